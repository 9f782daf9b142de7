using Magneton.Core;
using Magneton.Core.Detection;
using Magneton.Core.Energy;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Runs;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.Analysis;

/// <summary>The energy model against the samples' own ground truth: balance, sources, leave-one-out, the A/A pair.</summary>
public class EnergyBalanceTests(ITestOutputHelper output)
{
    public static readonly TheoryData<string, string> Bundles = new()
    {
        { "gpt2-gelu", "A" }, { "gpt2-gelu", "B" }, { "gpt2-tf32", "A" }, { "gpt2-tf32", "B" },
        { "resnet50-layout", "A" }, { "resnet50-layout", "B" }, { "llama-generate-null", "A" }, { "llama-generate-null", "B" },
        { "convstage-layernorm", "A" }, { "convstage-layernorm", "B" },
    };

    [Theory]
    [MemberData(nameof(Bundles))]
    public void BalanceIsPhysicalOnEveryBundle(string pair, string role)
    {
        var run = Samples.Run(pair, role);
        var e = run.Energy;
        Assert.True(e.IdleHostEnergyJ >= 0, $"idle/host {e.IdleHostEnergyJ}");
        Assert.All(run.Operators, o => Assert.True(o.EnergyJ >= 0 && o.DynamicEnergyJ >= 0 && o.DynamicEnergyJ <= o.EnergyJ));
        Assert.Equal(e.IterationEnergyJ, e.OperatorEnergyJ + e.IdleHostEnergyJ + e.UnexplainedJ, 9);
        bool within = Math.Abs(e.UnexplainedJ) <= RatioInterval.Z * e.UnexplainedSigmaJ;
        Assert.True(within || e.Notes.Any(n => n.StartsWith("unexplained energy")),
            $"unexplained {e.UnexplainedJ:F3} +- {e.UnexplainedSigmaJ:F3} J with no note");
        // Every operator with GPU time has a source, a sigma, and the job energy rests on counter updates.
        Assert.All(run.Operators.Where(o => o.GpuSeconds > 0), o =>
        {
            Assert.NotEqual(EnergySource.None, o.Source);
            Assert.True(o.EnergySigmaJ > 0);
        });
        Assert.True(e.IterationCounterUpdates >= 10, $"{e.IterationCounterUpdates} updates");
        Assert.True(e.IterationEnergySigmaJ > 0 && e.IterationEnergySigmaJ < 0.02 * e.IterationEnergyJ);
        // Timeline power is only a check where op replays calibrate the prior.
        Assert.Equal(0, e.SourceShares[EnergySource.Timeline]);
    }

    [Theory]
    [MemberData(nameof(Bundles))]
    public void GpuBusyTimeCoversTheOperatorsKernels(string pair, string role)
    {
        // Busy time is the union of GPU activity inside the synchronised window: it cannot be less than the GPU time of
        // the operators (one stream, so no overlap) unless it is clipped. Clipped to the CPU span of the ranges, it was
        // 48% on convstage A.
        var run = Samples.Run(pair, role);
        double operators = run.Operators.Sum(o => o.GpuSeconds);
        Assert.True(run.Energy.GpuBusySeconds >= 0.97 * operators, $"busy {run.Energy.GpuBusySeconds * 1e3:F3} ms vs operators {operators * 1e3:F3} ms");
    }

    [Theory]
    [MemberData(nameof(Bundles))]
    public void ModuleReplayPowerStaysWithCallsOfTheSameSignature(string pair, string role)
    {
        var run = Samples.Run(pair, role);
        foreach (var call in run.Energy.ReplayedCalls)
        {
            // A twin call does the replayed call's work: same operators on the same input signatures.
            var first = run.Energy.ReplayedCalls.First(c => c.ReplayedModule == call.ReplayedModule);
            Assert.Equal(first.Operators.Select(i => run.Operators[i].Op), call.Operators.Select(i => run.Operators[i].Op));
        }
        // No operator outside a replayed call gets replay-module power (llama: not the 1,235 decode-step calls).
        var inCalls = run.Energy.ReplayedCalls.SelectMany(c => c.Operators).ToHashSet();
        Assert.All(run.Operators.Where(o => o.Source == EnergySource.ReplayModule), o => Assert.Contains(o.Index, inCalls));
    }

    [Fact]
    public void LlamaDecodeStepsDoNotTakeThePrefillModulePower()
    {
        var run = Samples.Run("llama-generate-null", "A");
        var layer = run.Energy.ReplayedCalls.Where(c => c.ReplayedModule == "model.layers.0").ToList();
        // model.layers.0 is called once for the prefill and once per decode step; only the prefill call of each layer was
        // replayed or has its signature.
        Assert.NotEmpty(layer);
        Assert.True(layer.Count <= 4, $"{layer.Count} calls of model.layers.* take the replayed prefill power");
        int decodeOps = run.Operators.Count(o => o.Module.StartsWith("model.layers.") && !layer.Any(c => c.Operators.Contains(o.Index)));
        Assert.True(decodeOps > 1000, $"{decodeOps}");
    }

    [Fact]
    public void LeaveOneOutPredictsTheReplaysWithinTheTargets()
    {
        var all = new List<LeaveOneOutItem>();
        foreach (var row in Bundles)
            all.AddRange(LeaveOneOut.Evaluate(Samples.Run((string)row[0], (string)row[1])));
        var ops = all.Where(x => x.Kind == "op").ToList();
        var modules = all.Where(x => x.Kind == "module").ToList();
        double opMean = ops.Average(x => Math.Abs(x.Error)), moduleMean = modules.Average(x => Math.Abs(x.Error));
        output.WriteLine($"leave-one-out over {Bundles.Count} sample bundles");
        output.WriteLine($"ops:     n={ops.Count} mean |error| {opMean:P1}, median {Median(ops):P1}, worst {ops.MaxBy(x => Math.Abs(x.Error))!.Error:P1}");
        output.WriteLine($"modules: n={modules.Count} mean |error| {moduleMean:P1}, median {Median(modules):P1}, worst {modules.MaxBy(x => Math.Abs(x.Error))!.Error:P1}");
        foreach (var g in all.GroupBy(x => (x.Kind, x.PredictedFrom)).OrderBy(g => g.Key.Kind))
            output.WriteLine($"  {g.Key.Kind,-6} predicted from {g.Key.PredictedFrom.Json(),-13} n={g.Count(),3} mean |error| {g.Average(x => Math.Abs(x.Error)):P1}");
        Assert.Equal(125, ops.Count);
        Assert.True(opMean <= 0.20, $"op mean abs error {opMean:P1}");
        Assert.True(moduleMean <= 0.10, $"module mean abs error {moduleMean:P1}");
    }

    static double Median(List<LeaveOneOutItem> xs)
    {
        var s = xs.Select(x => Math.Abs(x.Error)).Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }

    [Fact]
    public void IdenticalRunsResolveWithoutTheSameWorkGuard()
    {
        // The A/A pair with Detector.SameWork off: the energy model alone must find nothing, and every region ratio must
        // lie within its reported interval of 1 (common mode: identical operators share one energy).
        var r = Pipeline.Compare(Samples.Run("llama-generate-null", "A"), Samples.Run("llama-generate-null", "B"),
            new CompareOptions { SameWorkGuard = false });
        Assert.Empty(r.Findings);
        Assert.All(r.Regions.Where(x => x.A.EnergyJ > 0 || x.B.EnergyJ > 0), x =>
        {
            Assert.Equal(2, x.EnergyRatioInterval.Count);
            Assert.InRange(1.0, x.EnergyRatioInterval[0], x.EnergyRatioInterval[1]);
        });
    }

    [Fact]
    public void GeluRatioFollowsTheReplayedModules()
    {
        var r = Samples.Compare("gpt2-gelu");
        var f = Assert.Single(r.Findings, x => x.Verdict == Verdict.Waste);
        double replayed = CallEnergyMj(Samples.Run("gpt2-gelu", "A"), "transformer.h.0.mlp.act")
                          / CallEnergyMj(Samples.Run("gpt2-gelu", "B"), "transformer.h.0.mlp.act");
        Assert.InRange(f.EnergyRatio / replayed, 0.9, 1.1);
        Assert.Equal(EnergyBasis.Replay, f.EnergyBasis);
        Assert.NotNull(f.InSituEnergyRatio);
        Assert.InRange(replayed, f.EnergyRatioInterval[0], f.EnergyRatioInterval[1]);
        Assert.True(f.EnergySources.ContainsKey("replay-module") || f.EnergySources.ContainsKey("replay-op"));
    }

    static double CallEnergyMj(Run run, string module) =>
        run.Bundle.Replay!.Items.Single(i => i.Kind == "module" && i.Module == module).CallEnergyMj!.Value;

    [Fact]
    public void FindingsSayWhetherTheSavingIsTotalOrDynamic()
    {
        // resnet50 NCHW is host-bound (GPU busy ~40% of the iteration): shorter kernels leave the GPU idle, so the job
        // saves the dynamic part only; gpt2-tf32 A is GPU-bound and saves the whole difference.
        var resnet = Samples.Compare("resnet50-layout");
        Assert.Equal(JobBound.HostBound, resnet.A.Bound);
        Assert.All(resnet.Findings, f => Assert.Equal(SavingBasis.Dynamic, f.SavingBasis));
        // Where the wasteful side also runs longer, the idle power over that time is not saved.
        Assert.All(resnet.Findings.Where(f => f.TimeRatio > 1), f => Assert.True(f.JobSavingJ < f.EnergyDeltaJ));
        var tf32 = Samples.Compare("gpt2-tf32");
        Assert.Equal(JobBound.GpuBound, tf32.A.Bound);
        Assert.All(tf32.Findings, f => { Assert.Equal(SavingBasis.Total, f.SavingBasis); Assert.Equal(f.EnergyDeltaJ, f.JobSavingJ, 9); });
    }

    [Fact]
    public void ClaimsNeedTheIntervalAboveTheThreshold()
    {
        foreach (var pair in new[] { "gpt2-gelu", "gpt2-tf32", "resnet50-layout", "convstage-layernorm" })
        {
            var r = Samples.Compare(pair);
            foreach (var f in r.Findings)
            {
                Assert.True(f.EnergyRatioInterval[0] <= f.EnergyRatio && f.EnergyRatio <= f.EnergyRatioInterval[1]);
                if (f.Verdict == Verdict.Possible) Assert.True(f.EnergyRatioInterval[0] < 1 + r.Threshold);
                else Assert.True(f.EnergyRatioInterval[0] >= 1 + r.Threshold, $"{pair} {f.Where}: {f.EnergyRatioInterval[0]}");
            }
        }
        // resnet50 layer1.*.conv3 reads 1.21x in situ where the replay says 1.07x: not a claim at 10%.
        var conv3 = Samples.Compare("resnet50-layout").Findings.Where(f => f.Where == "layer1.*.conv3").ToList();
        Assert.All(conv3, f => Assert.Equal(Verdict.Possible, f.Verdict));
    }
}
