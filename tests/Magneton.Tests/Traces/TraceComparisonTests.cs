using System.Text.Json;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Traces;
using Xunit;

namespace Magneton.Tests.Traces;

/// <summary>Structural comparison of plain profiler traces, checked against what Holistic Trace Analysis asserts.</summary>
public sealed class TraceComparisonTests
{
    static ComparisonReport Compare(string a, string b, TraceCompareOptions? options = null) =>
        TraceComparison.Compare(a, b, options ?? new TraceCompareOptions());

    static Dictionary<string, int> Unmatched(IReadOnlyList<UnmatchedOperator> ops) => ops.ToDictionary(u => u.Op, u => u.Count);

    [Theory]
    [InlineData("trace_compare/base/base.json.gz", "trace_compare/test/test.json.gz")]
    [InlineData("trace_compare/base", "trace_compare/test")] // the directories HTA's TraceDiff reads
    public void Trace_compare_lists_what_HTA_finds_added_and_deleted(string a, string b)
    {
        // HTA's test_ops_diff (rank 1, iteration 1010 on both sides): added AddmmBackward0, All2All_Pooled_Req,
        // CatBackward0; deleted nccl:all_reduce; unchanged ProfilerStep#1010, aten::as_strided, aten::empty,
        // cudaEventQuery, cudaLaunchKernel. 1010 is the last complete step of both traces, our default.
        var r = Compare(HtaData.File(a), HtaData.File(b));
        Assert.Equal(new Dictionary<string, int> { ["nccl:all_reduce"] = 1 }, Unmatched(r.Unmatched.A));
        Assert.Equal(new Dictionary<string, int> { ["AddmmBackward0"] = 1, ["All2All_Pooled_Req"] = 1, ["CatBackward0"] = 1 }, Unmatched(r.Unmatched.B));
        Assert.Contains("ProfilerStep#1010", r.A.System);
        Assert.Contains("ProfilerStep#1010", r.B.System);
        Assert.Contains("rank 1", r.A.System);

        Assert.Equal(ComparisonReport.SchemaName, r.Schema);
        Assert.Equal(MatchMode.Structure, r.Matching.Mode);
        Assert.Contains("values were not compared: plain profiler traces carry no tensor values", r.Notes);
        Assert.Contains(r.Notes, n => n.StartsWith("energy was not measured", StringComparison.Ordinal));
        Assert.True(double.IsNaN(r.A.GpuEnergyJ) && double.IsNaN(r.B.IterationEnergyJ));
        Assert.All(r.Unmatched.B, u => Assert.True(double.IsNaN(u.EnergyJ)));
        Assert.Empty(r.Findings); // a 4 us kernel is below the 5 us floor
        Assert.False(r.HasWaste);
        Assert.Equal(4e-6, r.A.GpuTimeS, 12);
        Assert.Equal(0, r.B.GpuTimeS);
        Assert.Equal(0.122149, r.A.IterationTimeS, 9);
    }

    [Fact]
    public void Step_1009_of_trace_compare_is_the_same_on_both_sides()
    {
        var r = Compare(HtaData.File("trace_compare/base/base.json.gz"), HtaData.File("trace_compare/test/test.json.gz"),
            new TraceCompareOptions { Step = 1009, Rank = 1 });
        Assert.Empty(r.Unmatched.A);
        Assert.Empty(r.Unmatched.B);
        Assert.Equal(1, r.Matching.ACoverage);
        Assert.Contains("ProfilerStep#1009", r.A.System);
    }

    [Fact]
    public void A_trace_against_itself_matches_completely()
    {
        var path = HtaData.File("trace_diff/control/control.json.gz");
        var r = Compare(path, path);
        Assert.Empty(r.Unmatched.A);
        Assert.Empty(r.Unmatched.B);
        Assert.Empty(r.Findings);
        Assert.Equal(1, r.Matching.ACoverage);
        Assert.Equal(1, r.Matching.BCoverage);
        Assert.True(r.A.Operators > 6000);
        Assert.All(r.Regions, g => Assert.Equal(g.A.GpuTimeS, g.B.GpuTimeS));
    }

    [Fact]
    public void Trace_diff_pair_is_matched_by_structure_with_time_findings()
    {
        var r = Compare(HtaData.File("trace_diff/control/control.json.gz"), HtaData.File("trace_diff/test/test.json.gz"));
        Assert.InRange(r.Matching.ACoverage, 0.3, 0.99);
        Assert.NotEmpty(r.Findings);
        Assert.All(r.Findings, f =>
        {
            Assert.Equal(Verdict.Slower, f.Verdict);
            Assert.True(double.IsNaN(f.EnergyDeltaJ));
            Assert.True(f.TimeRatio >= 1.1);
            Assert.Contains("Time only", f.Explanation);
            Assert.All(f.Regions, id => Assert.Contains(r.Regions, g => g.Id == id));
        });
        // The JSON writer writes the unmeasured energies as null (never "NaN") and the report reads back.
        var json = JsonSerializer.Serialize(r, ReportJson.Options);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal("structure", doc.RootElement.GetProperty("matching").GetProperty("mode").GetString());
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("a").GetProperty("gpu_energy_j").ValueKind);
    }

    [Fact]
    public void A_slower_kernel_under_the_same_operators_is_a_kernel_choice_finding()
    {
        using var dir = new TempDir();
        string Trace(string kernel, double kernelDur) => new TraceBuilder()
            .Step(1, 0, 1000)
            .Op("## forward ##", 10, 900)
            .Op("aten::linear", 20, 300)
            .Op("aten::addmm", 30, 200)
            .Launch(1, 40, kernel, 100, kernelDur)
            .Op("aten::relu", 400, 100)
            .Launch(2, 410, "relu_kernel", 500, 50)
            .Step(2, 1000, 1000)
            .Op("## forward ##", 1010, 900)
            .Raw("""{"ph": "X", "cat": "Trace", "name": "PyTorch Profiler (0)", "pid": "Spans", "tid": "x", "ts": 0, "dur": 5000}""")
            .ToString();
        var a = dir.Write("a.json", Trace("sm80_gemm_tf32", 100));
        var b = dir.Write("b.json.gz", Trace("sm80_gemm_fp32", 300), gzip: true);
        var r = Compare(a, b, new TraceCompareOptions { Step = 1 });
        var f = Assert.Single(r.Findings);
        Assert.Equal(Side.B, f.Wasteful);
        Assert.Equal(CauseKind.KernelChoice, f.Cause.Kind);
        Assert.Equal(3, f.TimeRatio, 6);
        Assert.Equal("## forward ## > aten::linear > aten::addmm", f.Where); // the deepest operator, not its parents
        Assert.Equal(["sm80_gemm_tf32"], f.Cause.Kernels.A);
        Assert.Equal(["sm80_gemm_fp32"], f.Cause.Kernels.B);
        Assert.Empty(r.Unmatched.A);
        Assert.Empty(r.Unmatched.B);
        // Default step: step 2 is cut (it has far fewer operators), so step 1 is the last complete one.
        Assert.Contains("ProfilerStep#1", Compare(a, b).A.System);
    }

    /// <summary>
    /// The shape of HTA's H100 against MI300 attention: A's attention launches flash_fwd_kernel; B's launches attn_fwd,
    /// 3x longer, beneath extra view operators that launch nothing. The extra operators carry no GPU time, so the
    /// work is the kernels': kernel-choice, naming both kernels, and no view in the fix line. The JSON report has
    /// no "NaN": a plain trace has no energy, and its energies are null.
    /// </summary>
    [Fact]
    public void Extra_operators_without_gpu_time_leave_a_kernel_choice_and_energies_are_null_in_json()
    {
        using var dir = new TempDir();
        string Trace(string kernel, double kernelDur, bool views)
        {
            var t = new TraceBuilder().Step(1, 0, 1000).Op("## forward ##", 10, 900).Op("aten::scaled_dot_product_attention", 20, 400);
            if (views) t = t.Op("aten::view", 25, 5).Op("aten::transpose", 32, 5);
            return t.Launch(1, 40, kernel, 100, kernelDur).Op("aten::relu", 500, 100).Launch(2, 510, "relu_kernel", 600, 50).ToString();
        }
        var a = dir.Write("a.json", Trace("flash_fwd_kernel", 100, views: false));
        var b = dir.Write("b.json", Trace("attn_fwd", 300, views: true));
        var r = Compare(a, b, new TraceCompareOptions { Step = 1 });
        var f = Assert.Single(r.Findings);
        Assert.Equal(Side.B, f.Wasteful);
        Assert.Equal(CauseKind.KernelChoice, f.Cause.Kind);
        Assert.Equal(3, f.TimeRatio, 6);
        Assert.Equal(["flash_fwd_kernel"], f.Cause.Kernels.A);
        Assert.Equal(["attn_fwd"], f.Cause.Kernels.B);
        Assert.Contains("B runs attn_fwd where A runs flash_fwd_kernel", f.Cause.Suggestion);
        Assert.DoesNotContain("aten::view", f.Cause.Suggestion);
        Assert.Contains(r.Unmatched.B, u => u.Op == "aten::view");

        var json = JsonSerializer.Serialize(r, ReportJson.Options);
        Assert.DoesNotContain("NaN", json);
        Assert.DoesNotContain("Infinity", json);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("a").GetProperty("gpu_energy_j").ValueKind);
        Assert.Equal(JsonValueKind.Null, doc.RootElement.GetProperty("findings")[0].GetProperty("energy_delta_j").ValueKind);
        Assert.Equal(JsonValueKind.Number, doc.RootElement.GetProperty("findings")[0].GetProperty("time_ratio").ValueKind);
        // null reads back as NaN: the report round-trips.
        var back = JsonSerializer.Deserialize<ComparisonReport>(json, ReportJson.Options)!;
        Assert.True(double.IsNaN(back.A.GpuEnergyJ) && double.IsNaN(back.Findings[0].EnergyDeltaJ));
        Assert.Equal(f.TimeRatio, back.Findings[0].TimeRatio);
    }

    [Fact]
    public void Wrapped_and_reordered_operators_still_match()
    {
        using var dir = new TempDir();
        var a = dir.Write("a.json", new TraceBuilder()
            .Step(1, 0, 1000)
            .Op("aten::linear", 10, 100).Op("aten::addmm", 20, 50)
            .Op("aten::softmax", 200, 50)
            .Op("aten::gelu", 300, 50)
            .ToString());
        var b = dir.Write("b.json", new TraceBuilder()
            .Step(1, 0, 1000)
            .Op("MyLinear", 10, 100).Op("aten::addmm", 20, 50)      // a renamed wrapper around the same operator
            .Op("aten::gelu", 200, 50)                            // reordered
            .Op("aten::softmax", 300, 50)
            .ToString());
        var r = Compare(a, b);
        Assert.Equal(new Dictionary<string, int> { ["aten::linear"] = 1 }, Unmatched(r.Unmatched.A));
        Assert.Equal(new Dictionary<string, int> { ["MyLinear"] = 1 }, Unmatched(r.Unmatched.B));
        Assert.Equal(4, r.A.Operators);
    }

    [Fact]
    public void Multi_rank_directories_compare_the_rank_asked_for()
    {
        using var dirA = new TempDir();
        using var dirB = new TempDir();
        foreach (var (dir, slow) in new[] { (dirA, 100.0), (dirB, 100.0) })
            for (int rank = 0; rank < 2; rank++)
                dir.Write($"worker{rank}.pt.trace.json", new TraceBuilder(rank)
                    .Step(5, 0, 1000).Op(rank == 0 ? "aten::mm" : "aten::bmm", 10, 200).Launch(1, 20, "gemm", 100, slow)
                    .ToString());
        var r0 = Compare(dirA.Path, dirB.Path);
        Assert.Contains("rank 0", r0.A.System);
        Assert.Contains(r0.Notes, n => n.Contains("2 ranks") && n.Contains("--rank"));
        var r1 = Compare(dirA.Path, dirB.Path, new TraceCompareOptions { Rank = 1 });
        Assert.Contains("rank 1", r1.B.System);
        Assert.Equal(1, r1.Matching.ACoverage);
        var e = Assert.Throws<BundleException>(() => Compare(dirA.Path, dirB.Path, new TraceCompareOptions { Rank = 4 }));
        Assert.Contains("has no rank 4", e.Message);
    }

    [Fact]
    public void Rank_is_honoured_on_every_input_or_refused()
    {
        using var dir = new TempDir();
        File.CreateSymbolicLink(dir.File("a.json.gz"), HtaData.File("trace_diff/control/control.json.gz")); // rank 3
        File.CreateSymbolicLink(dir.File("b.json.gz"), HtaData.File("trace_diff/test/test.json.gz"));       // rank 1
        var single = HtaData.File("trace_diff/test/test.json.gz");
        var e = Assert.Throws<BundleException>(() => Compare(dir.Path, single, new TraceCompareOptions { Rank = 3 }));
        Assert.Equal($"{single}: rank: has no rank 3 (ranks: 1)", e.Message);
        var r = Compare(dir.Path, single, new TraceCompareOptions { Rank = 1 });
        Assert.Contains("rank 1", r.A.System);
        Assert.Contains("rank 1", r.B.System);
    }

    [Fact]
    public void A_missing_step_is_bad_input_naming_the_file()
    {
        var a = HtaData.File("trace_compare/base/base.json.gz");
        var e = Assert.Throws<BundleException>(() => Compare(a, HtaData.File("trace_compare/test/test.json.gz"), new TraceCompareOptions { Step = 7 }));
        Assert.Equal(a, e.File);
        Assert.Equal("ProfilerStep#7", e.Field);
        Assert.Contains("1009, 1010", e.Problem);
    }
}
