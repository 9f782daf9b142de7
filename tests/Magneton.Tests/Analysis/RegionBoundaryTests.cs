using Magneton.Core;
using Magneton.Core.Bundles;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Runs;
using Xunit;

namespace Magneton.Tests.Analysis;

/// <summary>
/// Regions respect steps: a region pair holds a fused step on one side and the whole unfused step on the other,
/// never part of it with the rest beside identical operators in the next region (which inflates the ratio).
/// The fixtures rewrite the real GPT-2 run (gpt2-gelu B) and compare the rewrite against the original.
/// </summary>
public class RegionBoundaryTests
{
    static Run Original => Samples.Run("gpt2-gelu", "B");

    static ComparisonReport CompareWith(BundleRewriter rw, string system) =>
        Pipeline.Compare(Pipeline.Ingest(rw.Build(system)), Original, new CompareOptions());

    /// <summary>The regions that hold any operator (views aside) of a module, on either side.</summary>
    static List<RegionReport> Holding(ComparisonReport r, string module) =>
        r.Regions.Where(x => x.A.Modules.Contains(module) || x.B.Modules.Contains(module)).ToList();

    /// <summary>
    /// Conv1D's fused addmm(bias, x, W) at every mlp.c_fc becomes mm(x, W) -> t, then add(t, bias) -> y in the same
    /// module. With a zero bias t already equals y (and B's fused result), so matching could cut between mm and add;
    /// with a non-zero bias it could not. Either way each c_fc call is one region pair: A's mm and add against B's addmm.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GemmBiasFusedAgainstSeparateIsOneRegionPairHoldingTheModule(bool zeroBias)
    {
        var rw = new BundleRewriter(Original.Bundle);
        var sites = rw.Nodes.Where(n => n.Op == "aten.addmm.default" && n.Module.EndsWith(".mlp.c_fc")).ToList();
        Assert.Equal(4, sites.Count);
        foreach (var n in sites)
        {
            int bias = n.In[0], x = n.In[1], w = n.In[2], y = n.Out[0];
            var yv = rw.Value(y);
            if (zeroBias)
            {
                long width = rw.Value(bias).Numel;
                bias = rw.NewParam(bias, [width], new FloatStats(0, 0, 0, 0, 0, 0));
            }
            int t = zeroBias ? rw.CopyOf(y) : rw.NewIntermediate(yv.Shape, yv.Dtype);
            rw.Replace([n.Id], [("aten.mm.default", [x, w], [t], 0.92), ("aten.add.Tensor", [t, bias], [y], 0.08)]);
        }
        var r = CompareWith(rw, zeroBias ? "separate-zero-bias" : "separate-bias");

        foreach (var module in sites.Select(n => n.Module))
        {
            var region = Assert.Single(Holding(r, module));
            Assert.Equal(["aten.mm.default", "aten.add.Tensor"], region.A.Ops);
            Assert.Equal(["aten.addmm.default"], region.B.Ops);
            Assert.Equal([module], region.A.Modules);
            Assert.Equal([module], region.B.Modules);
        }
        // The rest of the graph is untouched: the activation after c_fc is a region of its own, identical on both sides.
        Assert.All(r.Regions.Where(x => x.A.Modules.Any(m => m.EndsWith(".mlp.act"))), x => Assert.Equal(x.A.Ops, x.B.Ops));
        Assert.True(r.Matching.ACoverage >= 0.9 && r.Matching.BCoverage >= 0.9);
    }

    /// <summary>
    /// An identity that does GPU work outside the module (a multiply by one in the MLP, after c_proj): A's c_proj
    /// output already equals B's, but the multiply stays with the GEMM that produced its input.
    /// </summary>
    [Fact]
    public void AnIdentityStaysWithItsProducer()
    {
        var rw = new BundleRewriter(Original.Bundle);
        var sites = rw.Nodes.Where(n => n.Op == "aten.addmm.default" && n.Module.EndsWith(".mlp.c_proj")).ToList();
        Assert.Equal(4, sites.Count);
        foreach (var n in sites)
            rw.Follow(n.Id, "aten.mul.Tensor", 0.05, identity: true, module: n.Module[..n.Module.LastIndexOf('.')]);
        var r = CompareWith(rw, "scaled-by-one");

        foreach (var module in sites.Select(n => n.Module))
        {
            var region = Assert.Single(Holding(r, module));
            Assert.Equal(["aten.addmm.default", "aten.mul.Tensor"], region.A.Ops);
            Assert.Equal(["aten.addmm.default"], region.B.Ops);
        }
    }

    /// <summary>
    /// convstage-layernorm: A permutes, copies, runs layer_norm and copies back; B normalises channels-first in ten
    /// operators ending in a multiply by its unit weight and an add of its zero bias (identities). Each norm call is one
    /// region pair holding the whole module on both sides, not the normalisation against A's copies.
    /// </summary>
    [Fact]
    public void ConvStageNormIsOneRegionPairPerBlockHoldingTheWholeModule()
    {
        var r = Samples.Compare("convstage-layernorm");
        for (int block = 0; block < 3; block++)
        {
            var region = Assert.Single(Holding(r, $"blocks.{block}.norm"));
            Assert.Equal(["aten.contiguous.default", "aten.layer_norm.default", "aten.contiguous.default"], region.A.Ops);
            Assert.Equal(10, region.B.Ops.Count);
            Assert.Equal(["aten.div.Tensor", "aten.mul.Tensor", "aten.add.Tensor"], region.B.Ops.TakeLast(3));
            // The same work on both sides: within the threshold, no finding.
            Assert.InRange(region.EnergyRatio, 1 / 1.1, 1.1);
        }
        Assert.Empty(r.Findings);
    }
}
