using Magneton.Core;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Rendering;
using Magneton.Core.Reporting;
using Magneton.Tests.Bundles;
using Xunit;

namespace Magneton.Tests.Analysis;

/// <summary>
/// The analysis of CPU captures without torch: the real gpt2-gelu pair with measure.json saying "device": "cpu"
/// and its energies null. The report claims no energy, ranks by the operators' host time (their mg# ranges) and
/// still finds the activation by operator set; the same bundles as GPU captures still give energy waste.
/// </summary>
public sealed class CpuCaptureAnalysisTests
{
    /// <summary>A copy of a sample bundle relabelled as a CPU capture (no energy counter).</summary>
    internal static TempBundle AsCpu(string sample)
    {
        var t = new TempBundle(sample);
        t.EditJson(BundleFiles.Measure, r =>
        {
            r["device"] = "cpu";
            r["baseline"]!["energy_counter_j"] = null;
            r["baseline"]!["iter_energy_counter_j"] = null;
        });
        return t;
    }

    [Fact]
    public void A_cpu_pair_is_ranked_by_cpu_time_and_claims_no_energy()
    {
        using var a = AsCpu("gpt2-gelu/A-hf-gpt2-gelu_new");
        using var b = AsCpu("gpt2-gelu/B-hf-gpt2-gelu_pytorch_tanh");
        var r = Pipeline.Compare(a.Path, b.Path, new CompareOptions());

        Assert.Equal(CostBasis.CpuTime, r.Cost);
        foreach (var side in new[] { r.A, r.B })
        {
            Assert.Equal(CaptureDevice.Cpu, side.Device);
            Assert.False(side.EnergyMeasured);
            Assert.Equal(0, side.IterationEnergyJ);
            Assert.Equal(0, side.GpuEnergyJ);
            Assert.Equal(0, side.IdleEnergyJ);
            Assert.True(side.CpuTimeS > 0);
        }
        Assert.Equal("none (CPU capture)", r.EnergyModel.Sources);
        Assert.Contains(r.Notes, n => n.Contains("no GPU energy was measured", StringComparison.Ordinal));
        Assert.All(r.Regions, g => Assert.Equal(0, g.A.EnergyJ));
        Assert.NotEmpty(r.Findings);
        Assert.All(r.Findings, f =>
        {
            Assert.Equal(Verdict.CpuTime, f.Verdict);
            Assert.Equal(0, f.EnergyDeltaJ);
            Assert.Equal(0, f.EnergyRatio);
            Assert.Equal("none", f.EnergySource);
            Assert.True(f.CpuTimeDeltaS > 0);
        });
        Assert.False(r.HasWaste);
        var act = Assert.Single(r.Findings, f => f.Where.Contains("mlp.act", StringComparison.Ordinal));
        Assert.Equal(Side.A, act.Wasteful);
        Assert.Equal(CauseKind.OperatorSet, act.Cause.Kind);
        Assert.Contains(act.Cause.Config, c => c.Key.EndsWith("activation_function", StringComparison.Ordinal));
        // The CPU-time delta is the regions' host time: recompute it from the regions the finding names.
        double delta = act.Regions.Sum(id => r.Regions.Single(g => g.Id == id).A.CpuTimeS - r.Regions.Single(g => g.Id == id).B.CpuTimeS);
        Assert.Equal(delta, act.CpuTimeDeltaS!.Value, 9);
        Assert.Contains("CPU time", TerminalReport.Render(r), StringComparison.Ordinal);
        Assert.DoesNotContain("WASTE", TerminalReport.Render(r), StringComparison.Ordinal);
    }

    [Fact]
    public void The_same_bundles_as_gpu_captures_still_report_energy_waste()
    {
        using var a = new TempBundle("gpt2-gelu/A-hf-gpt2-gelu_new");
        using var b = new TempBundle("gpt2-gelu/B-hf-gpt2-gelu_pytorch_tanh");
        var r = Pipeline.Compare(a.Path, b.Path, new CompareOptions());
        Assert.Equal(CostBasis.Energy, r.Cost);
        Assert.True(r.A.EnergyMeasured);
        Assert.Contains(r.Findings, f => f.Verdict == Verdict.Waste && f.Where.Contains("mlp.act", StringComparison.Ordinal));
        Assert.All(r.Findings, f => Assert.Null(f.CpuTimeDeltaS));
    }
}
