using Xunit;

namespace Magneton.Tests.Bundles;

/// <summary>
/// The streaming reduction against numbers computed independently by a python3 one-off (json + gzip, exact decimal
/// microseconds, brute-force innermost-range search per launch) over the same files. GPU busy time is the union of
/// kernel, memcpy and memset intervals clipped to [mg_sync_begin ts, mg_sync_end ts] (integer ns from decimal us).
/// </summary>
public sealed class KinetoCrossCheckTests
{
    private const double Tol = 1e-12;

    [Fact]
    public void Gpt2_gelu_A_trace_reduction_matches_python()
    {
        var k = SampleBundles.Get("gpt2-gelu/A-hf-gpt2-gelu_new").Kineto;
        Assert.Equal(81925, k.EventCount);
        Assert.Equal(60, k.Iterations);
        Assert.Equal(167, k.Operators.Count);
        Assert.Equal(82, k.Operators.Values.Count(o => o.Kernels.Count > 0));
        Assert.Equal(0.367458558, k.GpuBusySeconds, Tol);
        Assert.Equal(0.897272005, k.PassSeconds, Tol);
        Assert.Equal(4847596376421.436, k.SyncBeginTs!.Value, 1e-3);
        Assert.Equal(4847597286104.561, k.SyncEndTs!.Value, 1e-3);

        var embedding = k.Operators[1];
        Assert.Equal("aten.embedding.default", embedding.Op);
        Assert.Equal(0.000461997, embedding.GpuSecondsTotal, Tol);
        var gather = Assert.Single(embedding.Kernels);
        Assert.StartsWith("void at::native::vectorized_gather_kernel<16, long>", gather.Name);
        Assert.Equal(60, gather.Count);

        // c_attn addmm: the memset runs before the GEMM in every iteration, so it is seen first.
        var cAttn = k.Operators[21];
        Assert.Equal("aten.addmm.default", cAttn.Op);
        Assert.Equal(0.002341785, cAttn.GpuSecondsTotal, Tol);
        Assert.Equal(0.002341785 / 60, cAttn.GpuSecondsPerIteration, Tol);
        Assert.Collection(cAttn.Kernels,
            m => Assert.Equal(("Memset (Device)", "gpu_memset", 60, 4.301e-05), (m.Name, m.Category, m.Count, Math.Round(m.Seconds, 12))),
            g => Assert.Equal(("nvjet_sm90_tst_256x128_64x4_1x2_h_bz_coopA_bias_NNT", "kernel", 60, 0.002298775),
                (g.Name, g.Category, g.Count, Math.Round(g.Seconds, 12))));

        Assert.Equal(0.001446843, k.Operators[30].GpuSecondsTotal, Tol);
        Assert.Equal("aten.scaled_dot_product_attention.default", k.Operators[30].Op);
        Assert.Equal(0.264070963, k.Operators[166].GpuSecondsTotal, Tol);
        Assert.Contains("cutlass_75_tensorop_bf16_s1688gemm", Assert.Single(k.Operators[166].Kernels).Name);

        // A view launches nothing but its range still counts in every iteration.
        Assert.Equal(("aten.view.default", 60, 0.0), (k.Operators[0].Op, k.Operators[0].Occurrences, k.Operators[0].GpuSecondsTotal));
        Assert.Empty(k.Operators[0].Kernels);

        // The gelu_new activation of block 0 (trace_ids 42..49, eight elementwise ops): 209.2 us per iteration in situ.
        double act = Enumerable.Range(42, 8).Sum(t => k.Operators[t].GpuSecondsTotal);
        Assert.Equal(0.012553305, act, Tol);
    }

    [Fact]
    public void Llama_A_trace_reduction_matches_python()
    {
        var k = SampleBundles.Get("llama-generate-null/A-hf-llama-gqa-sdpa-run1").Kineto;
        Assert.Equal(184062, k.EventCount);
        Assert.Equal(8, k.Iterations);
        Assert.Equal(2342, k.Operators.Count);
        Assert.Equal(1757, k.Operators.Values.Count(o => o.Kernels.Count > 0));
        Assert.Equal(0.03701281, k.GpuBusySeconds, Tol);
        Assert.Equal(1.244792558, k.PassSeconds, Tol);
        Assert.Equal(0.000587852, k.Operators[287].GpuSecondsTotal, Tol);
        Assert.Equal(16, k.Operators[287].Kernels.Sum(x => x.Count));
        Assert.Equal(0.000215174, k.Operators[863].GpuSecondsTotal, Tol);
        Assert.Equal(0.000214723, k.Operators[575].GpuSecondsTotal, Tol);
    }

    [Theory]
    [InlineData("convstage-layernorm/A-convstage-permute-layernorm", 23739, 0.375333909, 0.183894414)]
    [InlineData("convstage-layernorm/B-convstage-channels-first-layernorm", 34764, 0.371024172, 0.258909743)]
    [InlineData("gpt2-gelu/B-hf-gpt2-gelu_pytorch_tanh", 66324, 0.322450565, 0.863832739)]
    [InlineData("gpt2-tf32/A-hf-gpt2-fp32-highest", 40510, 0.559518813, 0.651439474)]
    [InlineData("gpt2-tf32/B-hf-gpt2-fp32-tf32", 85764, 0.444341893, 0.899976354)]
    [InlineData("llama-generate-null/B-hf-llama-gqa-sdpa-run2", 184062, 0.037018893, 1.821962964)]
    [InlineData("resnet50-layout/A-torchvision-resnet50-nchw", 206968, 0.240405758, 1.402973806)]
    [InlineData("resnet50-layout/B-torchvision-resnet50-channels-last", 171688, 0.16055464, 1.530394365)]
    public void Busy_and_pass_times_match_python(string bundle, long events, double busy, double pass)
    {
        var k = SampleBundles.Get(bundle).Kineto;
        Assert.Equal(events, k.EventCount);
        Assert.Equal(busy, k.GpuBusySeconds, Tol);
        Assert.Equal(pass, k.PassSeconds, Tol);
    }
}
