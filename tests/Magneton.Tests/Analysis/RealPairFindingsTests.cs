using Magneton.Core;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Rendering;
using Magneton.Core.Reporting;
using Xunit;

namespace Magneton.Tests.Analysis;

/// <summary>The findings the H100 captures must produce (samples/README.md), end to end through Core.</summary>
public class RealPairFindingsTests
{
    static IReadOnlyList<FindingReport> Waste(ComparisonReport r) => r.Findings.Where(f => f.Verdict == Verdict.Waste).ToList();

    [Fact]
    public void GeluActivationIsOneGroupedOperatorSetWasteInA()
    {
        var r = Samples.Compare("gpt2-gelu");
        var waste = Waste(r);
        var f = Assert.Single(waste);
        Assert.Equal(Side.A, f.Wasteful);
        Assert.Equal(4, f.Instances);
        Assert.Equal(CauseKind.OperatorSet, f.Cause.Kind);
        Assert.All(f.Cause.Modules.A, m => Assert.Matches(@"^transformer\.h\.\d\.mlp\.act$", m));
        Assert.Equal(4, f.Cause.Modules.A.Count);
        Assert.Contains("transformers.activations.NewGELUActivation", f.Cause.Classes.A);
        Assert.Contains(f.Cause.Source.A, s => s.StartsWith("transformers/activations.py:66"));
        Assert.Contains(f.Cause.Config, c => c.Key == "activation_function" && c.A == "gelu_new" && c.B == "gelu_pytorch_tanh");
        Assert.Equal(["aten.gelu.default"], f.Cause.EfficientOps);
        // A's region runs the 8 elementwise ops of the tanh formula.
        var region = r.Regions.Single(x => x.Id == f.Regions[0]);
        Assert.Equal(8, region.A.Ops.Count);
        Assert.Equal(["aten.gelu.default"], region.B.Ops);
        // README: 105.9 mJ vs 16.1 mJ per call (6.6x); the model uses in-situ time, so allow a wide band.
        Assert.InRange(f.EnergyRatio, 3.0, 12.0);
        Assert.InRange(f.EnergyDeltaJ, 0.15, 0.6);
        Assert.True(f.TimeRatio > 1.01);
    }

    [Fact]
    public void Tf32IsKernelChoiceWasteInAIncludingLmHead()
    {
        var r = Samples.Compare("gpt2-tf32");
        var waste = Waste(r);
        Assert.NotEmpty(waste);
        Assert.All(waste, f => Assert.Equal(Side.A, f.Wasteful));
        Assert.All(waste, f => Assert.Equal(CauseKind.KernelChoice, f.Cause.Kind));
        Assert.Contains(waste, f => f.Cause.Modules.A.Contains("lm_head"));
        Assert.Contains(waste, f => f.Cause.Modules.A.Any(m => m.EndsWith("attn.c_attn")));
        var all = waste.SelectMany(f => f.Cause.Kernels.A).ToList();
        var allB = waste.SelectMany(f => f.Cause.Kernels.B).ToList();
        Assert.Contains(all, k => k.Contains("cutlass_80_simt_sgemm"));
        Assert.Contains(allB, k => k.Contains("sm90_xmma_gemm_f32f32_tf32f32"));
        Assert.All(waste, f => Assert.Contains(f.Cause.Config, c => c.Key == "torch.backends.cuda.matmul.allow_tf32" && c.A == "false" && c.B == "true"));
        Assert.All(waste, f => Assert.Equal("misconfiguration", f.Category));
    }

    [Fact]
    public void ResNetNchwIsLayoutWasteInAOverConvolutions()
    {
        var r = Samples.Compare("resnet50-layout");
        var waste = Waste(r);
        Assert.NotEmpty(waste);
        Assert.All(waste, f => Assert.Equal(Side.A, f.Wasteful));
        var layout = waste.Where(f => f.Cause.Kind == CauseKind.Layout).ToList();
        Assert.NotEmpty(layout);
        Assert.Contains(layout, f => f.Cause.Kernels.A.Any(k => k.Contains("nchwToNhwc")));
        Assert.Contains(layout, f => r.Regions.Where(x => f.Regions.Contains(x.Id)).Any(x => x.A.Ops.Contains("aten.conv2d.default")));
        Assert.Contains(layout[0].Cause.Config, c => c.Key == "memory_format");
        // The layout findings carry most of the measured difference (2.51 J vs 1.76 J per iteration).
        Assert.True(layout.Sum(f => f.EnergyDeltaJ) > 0.3, $"layout delta {layout.Sum(f => f.EnergyDeltaJ)}");
    }

    [Fact]
    public void IdenticalLlamaRunsHaveNoWasteAndBlameIdleHostEnergy()
    {
        var r = Samples.Compare("llama-generate-null");
        Assert.Empty(Waste(r));
        // The whole-job counters differ by ~1.7 J; that is idle/host energy, not operator work.
        Assert.True(r.B.IterationEnergyJ - r.A.IterationEnergyJ > 1.0);
        Assert.True(Math.Abs(r.B.GpuEnergyJ - r.A.GpuEnergyJ) < 0.1 * r.A.GpuEnergyJ);
        Assert.True(r.B.IdleEnergyJ - r.A.IdleEnergyJ > 1.0);
        Assert.Contains(r.Notes, n => n.Contains("idle/host energy"));
    }

    [Fact]
    public void ConvStageLayerNormHasNoWasteAtDefaultThreshold()
    {
        var r = Samples.Compare("convstage-layernorm");
        Assert.Empty(Waste(r));
    }

    /// <summary>
    /// Two unrelated models (GPT-2 and ResNet-50): matching pairs the graphs as wholes, one region, and A's energy is
    /// 1.6x B's there; but no value of one has an equivalent in the other, so there is no claim at all.
    /// </summary>
    [Theory]
    [InlineData("gpt2-gelu", "resnet50-layout")]
    [InlineData("llama-generate-null", "convstage-layernorm")]
    public void UnrelatedModelsAreNotComparableAndMakeNoWasteClaim(string pairA, string pairB)
    {
        var r = Pipeline.Compare(Samples.Run(pairA, "A"), Samples.Run(pairB, "A"), new CompareOptions());
        Assert.Empty(r.Findings);
        Assert.False(r.HasWaste);
        Assert.Equal(ReportVerdict.NotComparable, r.Verdict);
        var c = r.Comparability!;
        Assert.False(c.Comparable);
        Assert.True(Math.Max(c.EquivalentShareA, c.EquivalentShareB) < Magneton.Core.Detection.Comparability.MinEquivalentShare,
            $"shares {c.EquivalentShareA} {c.EquivalentShareB}");
        Assert.Contains(r.Notes, n => n.StartsWith("not comparable"));
        Assert.DoesNotContain(r.Notes, n => n.Contains("no operator-level energy waste"));
        Assert.Contains("not comparable", TerminalReport.Render(r));
        Assert.DoesNotContain("WASTE", TerminalReport.Render(r));
    }

    /// <summary>
    /// CompareOptions.OutputTolerance is the value-equivalence tolerance: at the default, fp32 (A) and tf32 (B) GPT-2
    /// values are equivalent (175 of 175); at 1e-6 the tf32 rounding (about 1e-3) separates every value computed after
    /// the first matmul, so far fewer are equivalent and the report says so.
    /// </summary>
    [Fact]
    public void OutputToleranceDecidesWhichValuesAreEquivalent()
    {
        var (a, b) = (Samples.Run("gpt2-tf32", "A"), Samples.Run("gpt2-tf32", "B"));
        var loose = Samples.Compare("gpt2-tf32");
        var strict = Pipeline.Compare(a, b, new CompareOptions { OutputTolerance = 1e-6 });
        Assert.Equal(Magneton.Core.Matching.Fingerprint.DefaultTolerance, new CompareOptions().OutputTolerance);
        Assert.True(strict.Matching.EquivalentValues < loose.Matching.EquivalentValues / 2,
            $"equivalent values: {strict.Matching.EquivalentValues} at 1e-6, {loose.Matching.EquivalentValues} at the default");
        Assert.True(strict.Matching.EquivalentValues > 0);
        Assert.Throws<ArgumentOutOfRangeException>(() => Pipeline.Compare(a, b, new CompareOptions { OutputTolerance = 0 }));
    }

    /// <summary>The sample pairs in samples/, each two captures of one model.</summary>
    public static TheoryData<string> EveryPair => ["gpt2-gelu", "gpt2-tf32", "resnet50-layout", "llama-generate-null", "convstage-layernorm"];

    /// <summary>Every sample pair of one model is comparable, well above the floor.</summary>
    [Theory]
    [MemberData(nameof(EveryPair))]
    public void SamplePairsAreComparable(string pair)
    {
        var r = Samples.Compare(pair);
        Assert.NotEqual(ReportVerdict.NotComparable, r.Verdict);
        var c = r.Comparability!;
        Assert.True(c.Comparable, c.Reason);
        Assert.True(c.ResultsEquivalent);
        Assert.True(Math.Min(c.EquivalentShareA, c.EquivalentShareB) >= 0.5, c.Reason);
    }

    [Theory]
    [InlineData("gpt2-tf32")]
    [InlineData("resnet50-layout")]
    [InlineData("llama-generate-null")]
    [InlineData("gpt2-gelu")]
    public void MatchingCoversNinetyPercentOfComputingOperators(string pair)
    {
        var r = Samples.Compare(pair);
        Assert.True(r.Matching.ACoverage >= 0.90, $"A coverage {r.Matching.ACoverage}");
        Assert.True(r.Matching.BCoverage >= 0.90, $"B coverage {r.Matching.BCoverage}");
    }

    [Theory]
    [MemberData(nameof(EveryPair))]
    public void EnergyNumbersAreConsistentAndSourced(string pair)
    {
        var r = Samples.Compare(pair);
        foreach (var side in new[] { r.A, r.B })
        {
            Assert.True(side.GpuEnergyJ > 0 && side.GpuEnergyJ < side.IterationEnergyJ * 1.5);
            // The balance: measured = operators + idle/host (gap power x gap time, never negative) + unexplained.
            Assert.Equal(side.IterationEnergyJ, side.GpuEnergyJ + side.IdleEnergyJ + side.UnexplainedJ, 6);
            Assert.True(side.IdleEnergyJ >= 0, $"idle/host {side.IdleEnergyJ}");
            Assert.Equal(side.GapPowerW * side.GapS, side.IdleEnergyJ, 9);
            Assert.InRange(side.Closure, 0.85, 1.15);
            Assert.True(side.ReplayShare > 0, "some operator power must come from replay");
            Assert.Equal(1.0, side.EnergySources.Values.Sum(), 3);
            // The replay check compares each item with the model: ops with in-situ time, modules with the operator
            // model built without that module replay (the audit: 2.8% mean, 11% worst with its own replay).
            Assert.NotNull(side.ReplayCheckMaxError);
            Assert.Contains(side.ReplayChecks, c => c.Kind == "module");
            Assert.Contains(side.ReplayChecks, c => c.Kind == "op");
            var modules = side.ReplayChecks.Where(c => c.Kind == "module").ToList();
            Assert.All(modules, c => Assert.True(c.Error < 0.35, $"{c.Id}: {c.Error}"));
            Assert.True(modules.Average(c => c.Error) < 0.2, $"mean module check error {modules.Average(c => c.Error)}");
            Assert.True(Math.Abs(side.ReplayChecks.Max(c => c.Error) - side.ReplayCheckMaxError!.Value) < 1e-3);
        }
        Assert.All(r.Regions.Where(x => x.A.EnergyJ > 0), x => Assert.NotEqual("none", x.A.EnergySource));
    }
}
