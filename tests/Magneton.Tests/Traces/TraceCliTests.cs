using System.Text.Json;
using Magneton.Client;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Traces;

/// <summary><c>magneton inspect</c> and <c>magneton compare</c> on plain profiler traces, run in-process.</summary>
public sealed class TraceCliTests
{
    static Task<CliResult> Run(params string[] args) => CliRunner.Run(args);

    static void AssertOneLineError(CliResult r, string mustContain) => CliRunner.AssertOneLineError(r, mustContain);

    /// <summary>A directory of two ranks' traces: the real trace_diff pair (ranks 3 and 1), linked, not copied.</summary>
    static TempDir MultiRankDirectory()
    {
        var dir = new TempDir();
        File.CreateSymbolicLink(dir.File("control.json.gz"), HtaData.File("trace_diff/control/control.json.gz"));
        File.CreateSymbolicLink(dir.File("test.json.gz"), HtaData.File("trace_diff/test/test.json.gz"));
        return dir;
    }

    [Fact]
    public async Task Inspect_prints_ranks_steps_operators_and_kernels_of_a_multi_rank_trace()
    {
        using var dir = MultiRankDirectory();
        var r = await Run("inspect", dir.Path);
        Assert.Equal(0, r.Code);
        Assert.Equal("", r.Err);
        Assert.Contains("directory of 2 profiler traces", r.Out);
        Assert.Contains("ranks: 1, 3", r.Out);
        Assert.Contains("rank 1 of 2: test.json.gz", r.Out);
        Assert.Contains("rank 3 of 8: control.json.gz", r.Out);
        Assert.Contains("ProfilerStep#1014", r.Out);
        Assert.Contains("last complete ProfilerStep#1014", r.Out);
        Assert.Contains("top operators by GPU time", r.Out);
        Assert.Contains("top kernels by GPU time", r.Out);
        Assert.Contains("ncclKernel_SendRecv_RING_SIMPLE_Sum_int8_t", r.Out);
        Assert.Contains("GPU busy", r.Out);
    }

    [Fact]
    public async Task Inspect_json_of_one_rank()
    {
        using var dir = MultiRankDirectory();
        var r = await Run("inspect", dir.Path, "--json", "--rank", "3", "--top", "5");
        Assert.Equal(0, r.Code);
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal("magneton.inspect/1", root.GetProperty("schema").GetString());
        Assert.Equal("trace-directory", root.GetProperty("kind").GetString());
        Assert.Equal([1, 3], root.GetProperty("all_ranks").EnumerateArray().Select(e => e.GetInt32()));
        var rank = Assert.Single(root.GetProperty("ranks").EnumerateArray());
        Assert.Equal(3, rank.GetProperty("rank").GetInt32());
        Assert.Equal(6, rank.GetProperty("steps").GetArrayLength());
        Assert.Equal(1014, rank.GetProperty("last_complete_step").GetInt32());
        Assert.Equal(5, rank.GetProperty("kernels").GetProperty("top").GetArrayLength());
        Assert.Equal(8568, rank.GetProperty("kernels").GetProperty("count").GetInt64());
        Assert.True(rank.GetProperty("gpu_busy_ms").GetDouble() > 300);
        foreach (var step in rank.GetProperty("steps").EnumerateArray())
            Assert.True(step.GetProperty("gpu_time_ms").GetDouble() > 0);
    }

    [Fact]
    public async Task Inspect_a_capture_bundle_summarises_its_trace_and_dataflow()
    {
        var r = await Run("inspect", Grains.TestRepo.GeluA, "--json");
        Assert.Equal(0, r.Code);
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal("bundle", doc.RootElement.GetProperty("kind").GetString());
        Assert.True(doc.RootElement.GetProperty("dataflow_operators").GetInt32() > 100);
        var rank = doc.RootElement.GetProperty("ranks")[0];
        Assert.True(rank.GetProperty("kernels").GetProperty("count").GetInt64() > 1000);
    }

    [Fact]
    public async Task Compare_two_traces_writes_a_structure_report()
    {
        var r = await Run("compare", HtaData.File("trace_compare/base/base.json.gz"), HtaData.File("trace_compare/test/test.json.gz"), "--json", "-");
        Assert.Equal(0, r.Code);
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal("magneton.report/1", root.GetProperty("schema").GetString());
        Assert.Equal("structure", root.GetProperty("matching").GetProperty("mode").GetString());
        Assert.Equal(["nccl:all_reduce"], root.GetProperty("unmatched").GetProperty("a").EnumerateArray().Select(u => u.GetProperty("op").GetString()));
        Assert.Equal(["AddmmBackward0", "All2All_Pooled_Req", "CatBackward0"],
            root.GetProperty("unmatched").GetProperty("b").EnumerateArray().Select(u => u.GetProperty("op").GetString()));
        Assert.Contains(root.GetProperty("notes").EnumerateArray(), n => n.GetString() == "values were not compared: plain profiler traces carry no tensor values");
        // The summary went to stderr and says what was (not) compared.
        Assert.Contains("Values were not compared and energy was not measured", r.Err);
        Assert.Contains("B only: AddmmBackward0 x1, All2All_Pooled_Req x1, CatBackward0 x1", r.Err);
    }

    [Fact]
    public async Task Compare_traces_with_step_and_rank()
    {
        var r = await Run("compare", HtaData.File("trace_compare/base"), HtaData.File("trace_compare/test"), "--step", "1009", "--rank", "1", "--fail-on-waste");
        Assert.Equal(0, r.Code);
        Assert.Contains("ProfilerStep#1009", r.Out);
        Assert.Contains("A only: none", r.Out);
    }

    [Fact]
    public async Task Truncated_trace_is_bad_input_naming_the_file()
    {
        using var dir = new TempDir();
        var cut = dir.Truncated(HtaData.File("negative_queue_length_values_check/rank0.json.gz"), "rank0.json.gz", 0.3);
        AssertOneLineError(await Run("inspect", cut), cut + ": gzip:");
        AssertOneLineError(await Run("compare", cut, HtaData.File("trace_compare/base/base.json.gz")), cut);
        AssertOneLineError(await Run("compare", HtaData.File("trace_compare/base/base.json.gz"), cut), "rank0.json.gz");
    }

    [Fact]
    public async Task Malformed_trace_is_bad_input_naming_the_event()
    {
        using var dir = new TempDir();
        var bad = dir.Write("bad.json", """{"traceEvents": [{"ph": "X", "name": "a", "ts": 1}, {"ph": "X" "name": "b"}]}""");
        AssertOneLineError(await Run("inspect", bad), "bad.json: traceEvents[1]: malformed JSON");
    }

    [Theory]
    [InlineData("--cluster", "127.0.0.1:30000")]
    [InlineData("--step", "x")]
    [InlineData("--rank", "-1")]
    public async Task Bad_trace_comparisons_are_bad_input(string option, string value)
    {
        var r = await Run("compare", HtaData.File("trace_compare/base/base.json.gz"), HtaData.File("trace_compare/test/test.json.gz"), option, value);
        AssertOneLineError(r, option);
    }

    [Fact]
    public async Task Traces_and_bundles_do_not_mix()
    {
        AssertOneLineError(await Run("compare", HtaData.File("trace_compare/base/base.json.gz"), Grains.TestRepo.GeluA), "profiler trace");
        AssertOneLineError(await Run("compare", Grains.TestRepo.GeluA, Grains.TestRepo.GeluB, "--step", "3"), "--step");
        AssertOneLineError(await Run("compare", "missing-a.json.gz", HtaData.File("trace_compare/base/base.json.gz")), "missing-a.json.gz: trace not found");
    }

    [Theory]
    [InlineData]
    [InlineData("a.json", "b.json")]
    [InlineData("--frobnicate")]
    [InlineData("--rank")]
    [InlineData("no-such-trace.json.gz")]
    public async Task Bad_inspect_command_lines_are_bad_input(params string[] args)
    {
        var r = await Run(["inspect", .. args]);
        Assert.Equal(2, r.Code);
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task Inspect_help()
    {
        var r = await Run("inspect", "--help");
        Assert.Equal(0, r.Code);
        Assert.Contains("magneton inspect", r.Out);
        Assert.Contains("magneton inspect", (await Run("--help")).Out);
    }
}
