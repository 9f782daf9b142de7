using Magneton.Core;
using Magneton.Core.Bundles;
using Magneton.Core.Matching;
using Magneton.Core.Runs;
using Xunit;

namespace Magneton.Tests.Analysis;

/// <summary>
/// The matcher must pair different implementations of the same function, not only identical code.
/// Beyond the real fused-vs-unfused GELU pair, these tests rewrite a real GPT-2 bundle the way another
/// engine would have written it and check that the rewritten operators are matched to the originals.
/// </summary>
public class CrossImplementationMatchingTests
{
    static Bundle Original => Samples.Run("gpt2-gelu", "B").Bundle;

    static Magneton.Core.Reporting.ComparisonReport CompareWith(Bundle rewritten) =>
        Pipeline.Compare(Samples.Run("gpt2-gelu", "B"), Pipeline.Ingest(rewritten), new CompareOptions());

    [Fact]
    public void Conv1DAddmmMatchesLinearWithTransposedWeight()
    {
        var rw = new BundleRewriter(Original);
        int rewritten = 0;
        foreach (var n in rw.Nodes.Where(n => n.Op == "aten.addmm.default").ToList())
        {
            // Conv1D: addmm(bias, x, W[in,out]); Linear: linear(x, W^T[out,in], bias)
            int bias = n.In[0], x = n.In[1], w = n.In[2];
            var shape = rw.Value(w).Shape;
            int wt = rw.NewParam(w, [shape[1], shape[0]]);
            rw.Retarget(n.Id, "aten.linear.default", [x, wt, bias]);
            rewritten++;
        }
        Assert.Equal(16, rewritten);
        var r = CompareWith(rw.Build("linear-variant"));
        var pairs = r.Regions.Where(x => x.A.Ops.Contains("aten.addmm.default") && x.B.Ops.Contains("aten.linear.default")).ToList();
        Assert.Equal(16, pairs.Count);
        Assert.All(pairs, p => Assert.Equal(["aten.addmm.default"], p.A.Ops));
        Assert.True(r.Matching.ACoverage >= 0.9 && r.Matching.BCoverage >= 0.9);
    }

    [Fact]
    public void FusedQkvWithSplitMatchesSeparateProjections()
    {
        var rw = new BundleRewriter(Original);
        int blocks = 0;
        foreach (var split in rw.Nodes.Where(n => n.Op == "aten.split.Tensor").ToList())
        {
            // ln_1 -> view -> addmm(c_attn) -> view -> split -> q, k, v   becomes   ln_1 -> 3 x linear -> q, k, v
            var addmm = rw.Nodes.Single(n => n.Out.Contains(rw.Nodes.Single(v => v.Out.Contains(split.In[0])).In[0]));
            var view3d = rw.Nodes.Single(n => n.Out.Contains(split.In[0]));
            var lnOut = rw.Nodes.Single(n => n.Out.Contains(addmm.In[1])).In[0];
            var w = addmm.In[2];
            var parts = split.Out.Select(o => (Op: "aten.linear.default",
                In: new[] { lnOut, rw.NewParam(w, [1024, 1024], numel: 1024 * 1024), rw.NewParam(addmm.In[0], [1024], numel: 1024) },
                Out: new[] { o }, GpuShare: 1.0 / 3)).ToList();
            rw.Replace([addmm.Id, view3d.Id, split.Id], parts);
            blocks++;
        }
        Assert.Equal(4, blocks);
        var r = CompareWith(rw.Build("separate-qkv"));
        // split is a pure view (no kernel), so the region's computing operators are the fused addmm on one
        // side and the three projections on the other; its module is c_attn.
        var qkv = r.Regions.Where(x => x.B.Ops.Contains("aten.linear.default") && !x.B.Modules.Contains("lm_head")).ToList();
        Assert.Equal(4, qkv.Count);
        Assert.All(qkv, x =>
        {
            Assert.Equal(1, x.A.Ops.Count(o => o == "aten.addmm.default"));
            Assert.Equal(x.A.Ops.Count(o => o != "aten.addmm.default"), x.B.Ops.Count(o => o != "aten.linear.default"));
            Assert.Contains(x.A.Modules, m => m.EndsWith("attn.c_attn"));
            Assert.Equal(3, x.B.Ops.Count(o => o == "aten.linear.default"));
        });
        Assert.True(r.Matching.ACoverage >= 0.9 && r.Matching.BCoverage >= 0.9);
    }

    [Fact]
    public void FusedAttentionMatchesEagerAttentionChain()
    {
        var rw = new BundleRewriter(Original);
        foreach (var sdpa in rw.Nodes.Where(n => n.Op == "aten.scaled_dot_product_attention.default").ToList())
        {
            int q = sdpa.In[0], k = sdpa.In[1], v = sdpa.In[2], o = sdpa.Out[0];
            var qs = rw.Value(q).Shape; // [B, H, S, D]
            long[] scoresShape = [qs[0], qs[1], qs[2], qs[2]];
            int scores = rw.NewIntermediate(scoresShape, rw.Value(q).Dtype);
            int scaled = rw.NewIntermediate(scoresShape, rw.Value(q).Dtype);
            int probs = rw.NewIntermediate(scoresShape, rw.Value(q).Dtype);
            rw.Replace([sdpa.Id],
            [
                ("aten.matmul.default", [q, k], [scores], 0.3),
                ("aten.mul.Tensor", [scores], [scaled], 0.1),
                ("aten._softmax.default", [scaled], [probs], 0.3),
                ("aten.matmul.default", [probs, v], [o], 0.3),
            ]);
        }
        var r = CompareWith(rw.Build("eager-attention"));
        var attn = r.Regions.Where(x => x.A.Ops.Contains("aten.scaled_dot_product_attention.default")).ToList();
        Assert.Equal(4, attn.Count);
        Assert.All(attn, x =>
        {
            Assert.Equal(["aten.scaled_dot_product_attention.default"], x.A.Ops);
            Assert.Equal(["aten.matmul.default", "aten.mul.Tensor", "aten._softmax.default", "aten.matmul.default"], x.B.Ops);
        });
        Assert.True(r.Matching.ACoverage >= 0.9 && r.Matching.BCoverage >= 0.9);
    }
}
