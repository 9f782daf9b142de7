using System.Text;
using System.Text.Json;
using Magneton.Core.Bundles;
using Magneton.Core.Traces;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Traces;

/// <summary>
/// Traces of other profiler versions and devices (tests/data/pytorch-1.8: hand-written in the PyTorch 1.8 format,
/// see its README), and how plain-trace inputs are named, ranked and stepped.
/// </summary>
public sealed class OldAndOtherTracesTests
{
    static string Old(string name) => Path.Combine(HtaData.RepoRoot, "tests", "data", "pytorch-1.8", name);

    static Task<CliResult> Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public void A_PyTorch_1_8_trace_reads_operators_launches_and_kernels()
    {
        var trace = ProfilerTraceReader.Read(Old("A.json"));
        int Count(TraceEventKind k) => trace.Events.Count(e => e.Kind == k);
        Assert.Equal(18, Count(TraceEventKind.CpuOp)); // 5 operators and a ProfilerStep#N in each of 3 steps
        Assert.Equal(9, Count(TraceEventKind.Runtime));
        Assert.Equal(6, Count(TraceEventKind.Kernel));
        Assert.Equal(3, Count(TraceEventKind.Memcpy));
        Assert.Equal(6, trace.FlowLinked); // the activation's launch and kernel of each step: only the "async" flow links them
        Assert.Empty(trace.OtherCategories);

        var inspection = TraceInspector.Inspect(Old("A.json"));
        var rank = Assert.Single(inspection.Ranks);
        Assert.Equal(15, rank.Operators.Count);
        Assert.Equal(9, rank.Launches);
        Assert.Equal(6, rank.Kernels.Count);
        Assert.Equal(3, rank.Memcpy.Count);
        Assert.Equal(0, rank.UnlinkedGpuActivities);
        Assert.Equal([1, 2, 3], rank.Steps.Select(s => s.Step));
        Assert.All(rank.Steps, s => Assert.Equal(5, s.Operators));
        // GPU time of a step: copy 8 us + GEMM 150 us + relu 30 us.
        Assert.All(rank.Steps, s => Assert.Equal(0.188, s.GpuTimeMs, 6));
    }

    [Fact]
    public void Two_PyTorch_1_8_traces_compare_and_differ_in_the_activation()
    {
        var r = TraceComparison.Compare(Old("A.json"), Old("B.json"), new TraceCompareOptions());
        Assert.Equal(5, r.A.Operators);
        Assert.Equal(5, r.B.Operators);
        Assert.Equal(new Dictionary<string, int> { ["aten::relu"] = 1 }, r.Unmatched.A.ToDictionary(u => u.Op, u => u.Count));
        Assert.Equal(new Dictionary<string, int> { ["aten::gelu"] = 1 }, r.Unmatched.B.ToDictionary(u => u.Op, u => u.Count));
        Assert.Equal(0.188e-3, r.A.GpuTimeS, 9);
        Assert.Equal(0.218e-3, r.B.GpuTimeS, 9);
    }

    /// <summary>MTIA: mtia_runtime launches, mtia_ccp_events device work; an unknown category is named in a note.</summary>
    static string OtherDeviceTrace() => """
        {"traceEvents": [
        {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": 100, "dur": 50},
        {"ph": "X", "cat": "mtia_runtime", "name": "mtiaLaunchKernel", "pid": 1, "tid": 1, "ts": 110, "dur": 5, "args": {"correlation": 7}},
        {"ph": "X", "cat": "mtia_ccp_events", "name": "mm_kernel", "pid": 2, "tid": 3, "ts": 120, "dur": 40, "args": {"correlation": 7, "device": 0}},
        {"ph": "X", "cat": "widget_device_events", "name": "w1", "pid": 2, "tid": 4, "ts": 120, "dur": 10},
        {"ph": "X", "cat": "widget_device_events", "name": "w2", "pid": 2, "tid": 4, "ts": 130, "dur": 10}
        ]}
        """;

    [Fact]
    public void Other_accelerators_are_counted_or_named_in_a_note()
    {
        using var dir = new TempDir();
        var path = dir.Write("mtia.json", OtherDeviceTrace());
        var inspection = TraceInspector.Inspect(path);
        var rank = Assert.Single(inspection.Ranks);
        Assert.Equal(1, rank.Kernels.Count);
        Assert.Equal(1, rank.Launches);
        Assert.Equal(0, rank.UnlinkedGpuActivities);
        Assert.Equal(0.040, rank.GpuTimeMs, 6);
        var note = Assert.Single(inspection.Notes, n => n.Contains("not analysed"));
        Assert.Equal("rank 0: 2 events of a category not analysed (neither operators, launches nor GPU work; another accelerator's?): \"widget_device_events\" 2", note);
    }

    [Fact]
    public void A_byte_order_mark_is_skipped_by_every_reader()
    {
        using var dir = new TempDir();
        var bom = dir.File("bom.json");
        File.WriteAllBytes(bom, [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(OtherDeviceTrace())]);
        Assert.Equal(5, ProfilerTraceReader.Read(bom).EntryCount);
        var empty = dir.File("empty-bom.json");
        File.WriteAllBytes(empty, [0xEF, 0xBB, 0xBF]);
        var e = Assert.Throws<BundleException>(() => ProfilerTraceReader.Read(empty));
        Assert.Equal("the document is empty", e.Problem);
    }

    [Fact]
    public void Malformed_JSON_names_the_byte_it_follows_across_buffer_refills()
    {
        using var dir = new TempDir();
        var near = dir.Write("near.json", """{"traceEvents": [{"ph": "X", "name": "a", "ts": 1,, "dur": 2}]}""");
        Assert.StartsWith("malformed JSON after byte 50: ", Assert.Throws<BundleException>(() => ProfilerTraceReader.Read(near)).Problem);
        // 3 MB of good events first: the error lies beyond the first 1 MiB window, in a gzip member.
        var events = string.Join(",", Enumerable.Range(0, 40_000).Select(i => $$"""{"ph": "X", "cat": "cpu_op", "name": "op{{i}}", "pid": 1, "tid": 1, "ts": {{i * 10}}, "dur": 5}"""));
        var text = "{\"traceEvents\": [" + events + ",, {}]}";
        var far = dir.Write("far.json.gz", text, gzip: true);
        var e = Assert.Throws<BundleException>(() => ProfilerTraceReader.Read(far));
        Assert.Equal("traceEvents[40000]", e.Field);
        Assert.StartsWith($"malformed JSON after byte {text.IndexOf(",,", StringComparison.Ordinal) + 1:N0}: ", e.Problem); // the first comma is good
    }

    [Fact]
    public async Task Rank_is_refused_on_a_single_trace_that_does_not_have_it()
    {
        var r = await Run("compare", Old("A.json"), Old("B.json"), "--rank", "1", "--json", "-");
        CliRunner.AssertOneLineError(r, $"{Old("A.json")}: rank: has no rank 1: a single trace without distributedInfo.rank (read as rank 0)");
        var inspect = await Run("inspect", HtaData.File("trace_compare/base/base.json.gz"), "--rank", "0");
        CliRunner.AssertOneLineError(inspect, "base.json.gz: rank: has no rank 0 (ranks: 1)");
        var honoured = await Run("compare", Old("A.json"), Old("B.json"), "--rank", "0", "--json", "-");
        Assert.Equal(0, honoured.Code);
    }

    [Fact]
    public async Task A_step_per_side_compares_two_steps_of_one_trace()
    {
        var r = await Run("compare", Old("A.json"), Old("A.json"), "--step-a", "1", "--step-b", "3", "--json", "-");
        Assert.Equal(0, r.Code);
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal("A (rank 0, ProfilerStep#1)", doc.RootElement.GetProperty("a").GetProperty("system").GetString());
        Assert.Equal("A (rank 0, ProfilerStep#3)", doc.RootElement.GetProperty("b").GetProperty("system").GetString());
        Assert.Equal(1.0, doc.RootElement.GetProperty("matching").GetProperty("a_coverage").GetDouble());

        CliRunner.AssertOneLineError(await Run("compare", Old("A.json"), Old("B.json"), "--step", "2", "--step-b", "3"), "--step sets the step of both sides");
        CliRunner.AssertOneLineError(await Run("compare", Old("A.json"), Old("B.json"), "--step-b", "9"), "B.json: ProfilerStep#9: is not in the trace (steps: 1-3)");
    }

    [Fact]
    public void Sides_of_one_file_name_are_named_by_their_directories()
    {
        using var root = new TempDir();
        foreach (var (run, file) in new[] { ("run1", "A.json"), ("run2", "B.json") })
        {
            Directory.CreateDirectory(root.File(run));
            File.Copy(Old(file), Path.Combine(root.File(run), "trace.json"));
        }
        var r = TraceComparison.Compare(Path.Combine(root.File("run1"), "trace.json"), Path.Combine(root.File("run2"), "trace.json"), new TraceCompareOptions());
        Assert.Equal("run1/trace (rank 0, ProfilerStep#3)", r.A.System);
        Assert.Equal("run2/trace (rank 0, ProfilerStep#3)", r.B.System);
    }

    [Fact]
    public void A_directory_without_rank_information_is_numbered_by_file_and_says_so()
    {
        using var dir = new TempDir();
        File.Copy(Old("A.json"), dir.File("first.json"));
        File.Copy(Old("B.json"), dir.File("second.json"));
        var input = TraceInput.Load(dir.Path);
        Assert.Equal([RankSource.None, RankSource.None], input.Ranks.Select(r => r.Source));
        var note = Assert.Single(input.Notes);
        Assert.Contains("2 traces without rank information", note);
        Assert.Contains("not taken for the ranks of one job", note);
        Assert.Contains("0 = first.json, 1 = second.json", note);

        var r = TraceComparison.Compare(dir.Path, dir.Path, new TraceCompareOptions { Rank = 1 });
        Assert.EndsWith("(second.json, ProfilerStep#3)", r.A.System);
        Assert.Contains(r.Notes, n => n.StartsWith("A: ", StringComparison.Ordinal) && n.Contains("without rank information"));
    }

    [Fact]
    public async Task A_stray_json_in_a_trace_directory_is_skipped_with_a_note()
    {
        using var dir = new TempDir();
        File.CreateSymbolicLink(dir.File("control.json.gz"), HtaData.File("trace_diff/control/control.json.gz"));
        File.CreateSymbolicLink(dir.File("test.json.gz"), HtaData.File("trace_diff/test/test.json.gz"));
        dir.Write("config.json", """{"lr": 0.1, "batch": 32}""");
        var r = await Run("inspect", dir.Path, "--json");
        Assert.Equal(0, r.Code);
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal([1, 3], doc.RootElement.GetProperty("all_ranks").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Contains(doc.RootElement.GetProperty("notes").EnumerateArray().Select(n => n.GetString()),
            n => n!.EndsWith("skipped 1 JSON file that is not a profiler trace: config.json (traceEvents: is missing: not a chrome/Kineto trace)", StringComparison.Ordinal));

        using var only = new TempDir();
        only.Write("config.json", """{"lr": 0.1}""");
        CliRunner.AssertOneLineError(await Run("inspect", only.Path), "directory: holds no profiler trace: config.json");
    }
}
