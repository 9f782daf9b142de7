using Magneton.Core;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Runs;
using Xunit;

namespace Magneton.Tests.Analysis;

/// <summary>
/// Findings are causes, judged on their total over every site (module, layer, step) where they show: the threshold
/// and the job-share floor apply to the sum, and the finding lists its sites.
/// </summary>
public class CauseGroupingTests
{
    static Run Original => Samples.Run("gpt2-gelu", "B");

    /// <summary>
    /// A real GPT-2 run rewritten so that four layer norms at different places (two layers' ln_1, one ln_2, the
    /// final ln_f: three different module patterns) are each followed by the same small extra scale. No site, and no
    /// pattern, is above the floor on its own; the cause (one extra operator after LayerNorm) is, and is one finding.
    /// </summary>
    [Fact]
    public void SameSmallExtraOperatorAtFourSitesIsOneFindingWithFourSites()
    {
        string[] sites = ["transformer.h.0.ln_1", "transformer.h.1.ln_1", "transformer.h.0.ln_2", "transformer.ln_f"];
        Run Scaled(double share)
        {
            var rw = new BundleRewriter(Original.Bundle);
            // layer_norm(x) -> y   becomes   layer_norm(x) -> t, mul(t, c) -> y   (t exists nowhere else)
            foreach (var module in sites)
                rw.Follow(rw.Nodes.Single(n => n.Op == "aten.layer_norm.default" && n.Module == module).Id, "aten.mul.Scalar", share, identity: false);
            return Pipeline.Ingest(rw.Build("scaled-layernorm"));
        }
        // The extra operator's GPU time is chosen so that it costs about a third of the floor per site, whatever power
        // the energy model gives it (energy is power x time): under the floor alone and in pairs, above it over four sites.
        double floor = Detector.MinShareOfJob * Original.Energy.IterationEnergyJ;
        const double Trial = 0.1;
        double perSite = Scaled(Trial).Operators.Where(o => o.Op == "aten.mul.Scalar").Average(o => o.EnergyJ);
        var scaled = Scaled(Trial * 0.35 * floor / perSite);

        Assert.Equal(4, scaled.Operators.Count(o => o.Op == "aten.mul.Scalar"));
        var r = Pipeline.Compare(scaled, Original, new CompareOptions());

        var f = Assert.Single(r.Findings);
        Assert.Equal(Verdict.Waste, f.Verdict);
        Assert.Equal(Side.A, f.Wasteful);
        Assert.Equal(CauseKind.OperatorSet, f.Cause.Kind);
        Assert.Equal(4, f.Instances);
        Assert.Equal(sites.Order(), f.Sites.Select(x => x.Where).Order());
        Assert.All(f.Sites, x => Assert.Single(x.Regions));
        // Each site holds the extra operator beside the layer norm it follows, against B's layer norm alone.
        foreach (var site in f.Sites)
        {
            var region = r.Regions.Single(x => x.Id == site.Regions[0]);
            Assert.Equal(["aten.layer_norm.default", "aten.mul.Scalar"], region.A.Ops);
            Assert.Equal(["aten.layer_norm.default"], region.B.Ops);
        }
        // The headline is the total over sites, and every site (and every pattern of sites) is under the floor alone.
        Assert.Equal(floor, Detector.MinShareOfJob * r.A.IterationEnergyJ, 9);
        Assert.Equal(f.Sites.Sum(x => x.EnergyDeltaJ), f.EnergyDeltaJ, 9);
        Assert.True(f.EnergyDeltaJ >= floor, $"total {f.EnergyDeltaJ} under the floor {floor}");
        Assert.All(f.Sites, x => Assert.True(x.EnergyDeltaJ > 0 && x.EnergyDeltaJ < floor, $"{x.Where}: {x.EnergyDeltaJ} J, floor {floor} J"));
        double ln1 = f.Sites.Where(x => x.Where.EndsWith("ln_1")).Sum(x => x.EnergyDeltaJ);
        Assert.True(ln1 < floor, $"the two ln_1 sites together: {ln1} J, floor {floor} J");
        Assert.Equal(f.EnergyDeltaJ / r.A.IterationEnergyJ, f.ShareOfJob, 4);
        Assert.Equal(["aten.layer_norm.default"], f.Cause.EfficientOps);
        // The fix names what differs (the extra scale), not the layer norm both sides run.
        Assert.StartsWith("A runs aten.mul.Scalar that B does not need", f.Cause.Suggestion);
        Assert.DoesNotContain("layer_norm", f.Cause.Suggestion);
    }

    /// <summary>
    /// resnet50-layout: one cause (NCHW against channels_last, config memory_format) over every convolution and
    /// norm; it was 28 findings of 57.7 mJ and less each. It is one finding whose energy is the sum over its sites.
    /// </summary>
    [Fact]
    public void ResNetLayoutIsOneFindingWhoseEnergyIsItsTotalOverSites()
    {
        var r = Samples.Compare("resnet50-layout");
        var layouts = r.Findings.Where(f => f.Cause.Kind == CauseKind.Layout).ToList();
        var layout = Assert.Single(layouts, f => f.Verdict != Verdict.Possible);
        // The one layout claim. The energy model's intervals let B's few channels_last-slower sites (maxpool, bn)
        // show, summed, as the opposite direction's "possible" difference below resolution: never a second claim.
        Assert.All(layouts.Where(f => f != layout), f => { Assert.Equal(Verdict.Possible, f.Verdict); Assert.Equal(Side.B, f.Wasteful); });
        Assert.Equal(Verdict.Waste, layout.Verdict);
        Assert.Equal(Side.A, layout.Wasteful);
        Assert.Contains(layout.Cause.Config, c => c.Key == "memory_format");
        Assert.True(layout.Sites.Count >= 28, $"{layout.Sites.Count} sites");
        Assert.Equal(layout.Regions.Count, layout.Sites.Sum(x => x.Regions.Count));
        Assert.Equal(layout.Sites.Sum(x => x.EnergyDeltaJ), layout.EnergyDeltaJ, 9);
        // Most of the measured difference (2.51 J vs 1.76 J per iteration) and far more than its largest site.
        Assert.InRange(layout.EnergyDeltaJ, 0.45, 0.75);
        Assert.InRange(layout.ShareOfJob, 0.18, 0.30);
        Assert.True(layout.EnergyDeltaJ > 5 * layout.Sites[0].EnergyDeltaJ);
        Assert.Equal(layout.Sites.OrderByDescending(x => x.EnergyDeltaJ).Select(x => x.Where), layout.Sites.Select(x => x.Where));
        Assert.Contains(layout.Sites, x => x.Where.Contains("conv"));
        Assert.Contains(layout.Sites, x => x.Where.Contains("bn"));
    }

    /// <summary>
    /// gpt2-tf32 with B rewritten so that every c_fc GEMM is followed by an extra operator that launches nothing (a
    /// zero-GPU-time identity): the operators differ on one side, but only by work-free bookkeeping, so the cause is
    /// still the kernels (fp32 SIMT against tf32 tensor-core GEMMs), and the Conv1D finding still holds c_fc.
    /// </summary>
    [Fact]
    public void ExtraOperatorsWithoutGpuWorkLeaveAKernelChoice()
    {
        var rw = new BundleRewriter(Samples.Run("gpt2-tf32", "B").Bundle);
        var sites = rw.Nodes.Where(n => n.Op == "aten.addmm.default" && n.Module.EndsWith(".mlp.c_fc")).ToList();
        foreach (var n in sites) rw.Follow(n.Id, "aten.alias_copy.default", 0, identity: true);
        var r = Pipeline.Compare(Samples.Run("gpt2-tf32", "A"), Pipeline.Ingest(rw.Build("tf32-with-bookkeeping")), new CompareOptions());
        var fc = Assert.Single(r.Findings, f => f.Cause.Modules.A.Any(m => m.EndsWith(".mlp.c_fc")));
        Assert.Equal(CauseKind.KernelChoice, fc.Cause.Kind);
        Assert.All(r.Findings, f => Assert.Equal(CauseKind.KernelChoice, f.Cause.Kind));
        var regions = r.Regions.Where(x => fc.Regions.Contains(x.Id) && x.B.Ops.Contains("aten.alias_copy.default")).ToList();
        Assert.Equal(4, regions.Count);
    }
}
