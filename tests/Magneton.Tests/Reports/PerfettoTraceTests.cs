using System.Text.Json;
using Magneton.Client;
using Magneton.Core;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Rendering.Perfetto;
using Magneton.Core.Runs;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Reports;

/// <summary>
/// The Chrome trace-event JSON of <c>magneton export</c>: it parses, has the phases Perfetto reads (M, X, C, i),
/// its slices and counters carry the run model's numbers, and a report's findings land on their regions' operators.
/// </summary>
public sealed class PerfettoTraceTests
{
    static readonly Lazy<Run> RunA = new(() => Pipeline.Ingest(TestRepo.GeluA));
    static readonly Lazy<ComparisonReport> Gelu = new(() => Pipeline.Compare(TestRepo.GeluA, TestRepo.GeluB, new CompareOptions()));

    static List<JsonElement> Events(JsonDocument doc) => [.. doc.RootElement.GetProperty("traceEvents").EnumerateArray()];

    [Fact]
    public void Trace_parses_and_its_slices_and_counters_are_the_run_models()
    {
        var run = RunA.Value;
        using var doc = JsonDocument.Parse(PerfettoTrace.Build(run));
        var events = Events(doc);
        var phases = events.Select(e => e.GetProperty("ph").GetString()).ToHashSet();
        Assert.Superset(new HashSet<string?> { "M", "X", "C" }, phases);
        Assert.DoesNotContain("i", phases); // no report, no findings
        foreach (var e in events)
        {
            Assert.True(e.TryGetProperty("name", out _));
            Assert.True(e.TryGetProperty("pid", out _));
            if (e.GetProperty("ph").GetString() != "M") Assert.True(e.GetProperty("ts").GetDouble() >= 0);
        }

        // One slice per operator with GPU time, in execution order, back to back, as long as its GPU time.
        var computing = run.Operators.Where(o => o.GpuSeconds > 0).ToList();
        var slices = events.Where(e => e.GetProperty("ph").GetString() == "X" && e.GetProperty("tid").GetInt32() == PerfettoTrace.OperatorsTid).ToList();
        Assert.Equal(computing.Count, slices.Count);
        for (int i = 0; i < slices.Count; i++)
        {
            var s = slices[i];
            var op = computing[i];
            Assert.Equal(op.Op, s.GetProperty("name").GetString());
            Assert.Equal(op.Id, s.GetProperty("args").GetProperty("node").GetInt32());
            Assert.Equal(op.GpuSeconds * 1e6, s.GetProperty("dur").GetDouble(), 6);
            Assert.Equal(op.EnergyJ * 1000, s.GetProperty("args").GetProperty("energy_mj").GetDouble(), 9);
            if (i > 0)
                Assert.Equal(slices[i - 1].GetProperty("ts").GetDouble() + slices[i - 1].GetProperty("dur").GetDouble(), s.GetProperty("ts").GetDouble(), 3);
        }

        // Counters: per operator its power and energy, at its slice's start, then zero at the end.
        double[] Counter(string name, string series) => [.. events
            .Where(e => e.GetProperty("ph").GetString() == "C" && e.GetProperty("name").GetString() == name)
            .Select(e => e.GetProperty("args").GetProperty(series).GetDouble())];
        var power = Counter(PerfettoTrace.PowerCounter, "W");
        var energy = Counter(PerfettoTrace.EnergyCounter, "mJ");
        var cumulative = Counter(PerfettoTrace.CumulativeCounter, "mJ");
        Assert.Equal([.. computing.Select(o => o.PowerW), 0.0], power);
        Assert.Equal([.. computing.Select(o => o.EnergyJ * 1000), 0.0], energy);
        Assert.Equal(computing.Sum(o => o.EnergyJ) * 1000, cumulative[^1], 6);
        Assert.Equal(run.Operators.Sum(o => o.EnergyJ) * 1000, doc.RootElement.GetProperty("otherData").GetProperty("operator_energy_mj").GetDouble(), 6);

        // Kernels below their operators, inside the operator's time.
        var kernels = events.Where(e => e.GetProperty("ph").GetString() == "X" && e.GetProperty("tid").GetInt32() == PerfettoTrace.KernelsTid).ToList();
        Assert.Equal(computing.Sum(o => o.Kernels.Count(k => k.Seconds > 0)), kernels.Count);
        Assert.Contains(kernels, k => k.GetProperty("args").GetProperty("kernel").GetString()!.Contains("tanh_kernel_cuda", StringComparison.Ordinal));

        // power.csv: one counter per sample read, in watts, on the same clock (time zero = first sample).
        var samples = run.Bundle.Power;
        var timeline = events.Where(e => e.GetProperty("ph").GetString() == "C" && e.GetProperty("name").GetString() == PerfettoTrace.TimelineCounter).ToList();
        Assert.Equal(Enumerable.Range(0, samples.Count).Count(i => samples.PowerInstantMw[i] >= 0 || samples.PowerAverageMw[i] >= 0), timeline.Count);
        Assert.Equal(0, timeline[0].GetProperty("ts").GetDouble());
        Assert.Equal(samples.PowerInstantMw[0] / 1000.0, timeline[0].GetProperty("args").GetProperty("instant").GetDouble(), 9);
        Assert.Equal((samples.TimeNs[^1] - samples.TimeNs[0]) / 1000.0, timeline[^1].GetProperty("ts").GetDouble(), 3);
        // The operators start where the energy pass began, inside the power.csv span.
        double first = slices[0].GetProperty("ts").GetDouble();
        Assert.Equal((run.Bundle.Measure.EnergyPass.SyncBeginEndNs - samples.TimeNs[0]) / 1000.0, first, 3);

        // The layout is stated in the trace itself.
        Assert.Contains("not start times", doc.RootElement.GetProperty("otherData").GetProperty("layout").GetString());
    }

    [Fact]
    public void Findings_are_instant_events_on_the_first_operator_of_each_region()
    {
        var run = RunA.Value;
        var report = Gelu.Value;
        using var doc = JsonDocument.Parse(PerfettoTrace.Build(run, report, Side.A));
        var events = Events(doc);
        var instants = events.Where(e => e.GetProperty("ph").GetString() == "i").ToList();
        var f = report.Findings.Single();
        Assert.Equal(f.Regions.Count, instants.Count);
        var opSlices = events.Where(e => e.GetProperty("ph").GetString() == "X" && e.GetProperty("tid").GetInt32() == PerfettoTrace.OperatorsTid).ToList();
        foreach (var instant in instants)
        {
            Assert.Equal("[1] WASTE in A: transformer.h.*.mlp.act", instant.GetProperty("name").GetString());
            Assert.Equal("t", instant.GetProperty("s").GetString());
            var args = instant.GetProperty("args");
            Assert.Equal("this run", args.GetProperty("wasteful").GetString());
            Assert.Equal(f.EnergyDeltaJ * 1000, args.GetProperty("energy_delta_mj").GetDouble(), 9);
            var region = report.Regions.Single(r => r.Id == args.GetProperty("region").GetInt32());
            int firstNode = region.A.Nodes.OrderBy(n => run.IndexOfNode[n]).First();
            double ts = instant.GetProperty("ts").GetDouble();
            // The instant sits on the region's first operator (a slice of this module with that node id when it ran on the GPU).
            var slice = opSlices.FirstOrDefault(s => s.GetProperty("args").GetProperty("node").GetInt32() == firstNode);
            if (slice.ValueKind == JsonValueKind.Object) Assert.Equal(slice.GetProperty("ts").GetDouble(), ts, 6);
            Assert.Contains(".mlp.act", run.ByNode(firstNode).Module);
        }
        // Spans on the findings track cover the region's operators.
        var spans = events.Where(e => e.GetProperty("ph").GetString() == "X" && e.GetProperty("tid").GetInt32() == PerfettoTrace.FindingsTid).ToList();
        Assert.Equal(instants.Count, spans.Count);
        Assert.All(spans, s => Assert.True(s.GetProperty("dur").GetDouble() > 0));

        // Seen from B, the same finding is waste in the other run.
        var runB = Pipeline.Ingest(TestRepo.GeluB);
        using var docB = JsonDocument.Parse(PerfettoTrace.Build(runB, report, Side.B));
        var instantsB = Events(docB).Where(e => e.GetProperty("ph").GetString() == "i").ToList();
        Assert.Equal(f.Regions.Count, instantsB.Count);
        Assert.All(instantsB, i => Assert.Equal("the other run", i.GetProperty("args").GetProperty("wasteful").GetString()));
    }
}

/// <summary><c>magneton export</c> on the command line.</summary>
[Collection("CLI")]
public sealed class ExportCommandTests
{
    static Task<CliResult> Run(params string[] args) => CliRunner.Run(args);

    [Fact]
    public async Task Export_with_a_report_finds_the_side_and_annotates_the_findings()
    {
        var dir = Path.Combine(Path.GetTempPath(), "magneton-export-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var json = Path.Combine(dir, "report.json");
            var compare = await Run("compare", TestRepo.GeluA, TestRepo.GeluB, "--json", json, "--quiet");
            Assert.True(compare.Code == 0, compare.Err);

            var trace = Path.Combine(dir, "trace.json");
            var r = await Run("export", TestRepo.GeluB, "--out", trace, "--report", json);
            Assert.True(r.Code == 0, r.Err);
            Assert.Contains("ui.perfetto.dev", r.Err);
            using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(trace));
            Assert.Equal("b", doc.RootElement.GetProperty("otherData").GetProperty("report_side").GetString());
            Assert.Equal(4, doc.RootElement.GetProperty("traceEvents").EnumerateArray().Count(e => e.GetProperty("ph").GetString() == "i"));

            // To stdout, without a report.
            var toStdout = await Run("export", TestRepo.GeluA, "--out", "-");
            Assert.Equal(0, toStdout.Code);
            using var doc2 = JsonDocument.Parse(toStdout.Out);
            Assert.True(doc2.RootElement.GetProperty("traceEvents").GetArrayLength() > 100);

            // A report of other runs: the side must be given.
            var other = await Run("export", TestRepo.Bundle("gpt2-tf32", "A"), "--out", trace, "--report", json);
            Assert.Equal(2, other.Code);
            Assert.Contains("--side", other.Err);
            Assert.Equal(0, (await Run("export", TestRepo.Bundle("gpt2-tf32", "A"), "--out", trace, "--report", json, "--side", "a")).Code);

            // Not a report.
            var notReport = Path.Combine(dir, "x.json");
            await File.WriteAllTextAsync(notReport, "{\"schema\": \"something/1\"}");
            var bad = await Run("export", TestRepo.GeluA, "--out", trace, "--report", notReport);
            Assert.Equal(2, bad.Code);
            Assert.StartsWith("magneton: error: ", bad.Err);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    [Theory]
    [InlineData("export")]
    [InlineData("export", "samples/gpt2-gelu/A-hf-gpt2-gelu_new")]
    [InlineData("export", "/nonexistent/bundle", "--out", "t.json")]
    [InlineData("export", "a", "b", "--out", "t.json")]
    [InlineData("export", "a", "--out")]
    [InlineData("export", "a", "--frobnicate")]
    [InlineData("export", "a", "--out", "t.json", "--side", "c")]
    public async Task Bad_export_command_lines_are_bad_input(params string[] args)
    {
        var r = await Run(args);
        Assert.Equal(2, r.Code);
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("magneton: error: ", r.Err);
    }
}
