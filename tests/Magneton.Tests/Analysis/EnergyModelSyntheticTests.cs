using Magneton.Core;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Energy;
using Magneton.Core.Matching;
using Magneton.Core.Runs;
using Xunit;

namespace Magneton.Tests.Analysis;

/// <summary>The energy model's rules on fixtures built in code, where the right answer is known exactly.</summary>
public class EnergyModelSyntheticTests
{
    /// <summary>One operator of a fixture: name, in-situ GPU time, its kernel, and the power it is given.</summary>
    sealed record Op(string Name, double Seconds, string Kernel, double PowerW);

    const double Idle = 100;

    /// <summary>A chain of operators on a [64, 64] float tensor, one kernel each, with the given powers applied.</summary>
    static Run Chain(string system, double iterationSeconds, double busySeconds, params Op[] ops)
    {
        var values = new Dictionary<int, DataflowValue> { [0] = Value(0, "input", null) };
        var nodes = new List<DataflowNode>();
        var traced = new Dictionary<int, TraceOperator>();
        for (int i = 0; i < ops.Length; i++)
        {
            values[i + 1] = Value(i + 1, "activation", i);
            nodes.Add(new DataflowNode(i, ops[i].Name, "block", [], [i], [i + 1], false, false, [], "", i));
            traced[i] = new TraceOperator(i, ops[i].Name, 1, ops[i].Seconds, [new KernelCount(ops[i].Kernel, "kernel", 1, ops[i].Seconds)]);
        }
        var empty = new PowerSamples([], [], [], []);
        var measure = new Measure(new BaselineMeasure(100, 100 * iterationSeconds, iterationSeconds, 0, 0, 0, 1), null,
            new EnergyPassMeasure(1, iterationSeconds, iterationSeconds, 0, 1, 2, 3), null);
        var bundle = new Bundle(system, new Dataflow("magneton-capture/1", null, system, null, new Dictionary<string, string>(), nodes, values),
            new KinetoSummary(1, traced, 0, null, 0, null, null, busySeconds, iterationSeconds), empty, null, measure,
            new ReplayDocument(new ReplayIdle(0, 1, Idle), []), null, null);
        var run = Pipeline.Ingest(bundle);
        for (int i = 0; i < ops.Length; i++)
        {
            var op = run.Operators[i];
            op.PowerW = ops[i].PowerW;
            op.Source = EnergySource.ReplayOp;
            op.EnergySigmaJ = 0.005 * op.EnergyJ;
            op.DynamicEnergyJ = (op.PowerW - Idle) * op.GpuSeconds;
        }
        run.Energy = run.Energy with { IterationEnergyJ = 1.0 };
        return run;
    }

    static DataflowValue Value(int id, string kind, int? producer) =>
        new(id, [64, 64], "float32", [64, 1], 4096, kind, producer, new FloatStats(id, 1, -1, 1, 0.5, 64), null, 0, null, null);

    /// <summary>A real session (value equivalence, cut rules): the detector first asks whether the two runs are comparable.</summary>
    static MatchSession Session(Run a, Run b) => MatchSession.Create(a, b, new CompareOptions());

    [Theory]
    [InlineData(500.0)]
    [InlineData(300.0)]
    public void HostBoundJobSavesOnlyTheDynamicPartOfAShorterKernel(double power)
    {
        // A runs a kernel for 100 us, B the same operator with a kernel of 50 us at the same power; both jobs idle 99% of
        // a 10 ms iteration on the host. B's way saves A (P - idle) x 50 us: the GPU idles at idle power instead.
        var a = Chain("a", 0.010, 100e-6, new Op("aten.mm.default", 100e-6, "slow_kernel", power));
        var b = Chain("b", 0.010, 50e-6, new Op("aten.mm.default", 50e-6, "fast_kernel", power));
        Assert.False(a.Energy.GpuBound);
        var f = Assert.Single(Detector.Detect(Session(a, b), [new RegionMatch(1, [0], [0], 0)]));
        Assert.Equal(Side.A, f.Wasteful);
        Assert.Equal(power * 50e-6, f.EnergyDeltaJ, 12);
        Assert.True(f.SavingIsDynamic);
        Assert.Equal((power - Idle) * 50e-6, f.JobSavingJ, 12);
    }

    [Fact]
    public void GpuBoundJobSavesTheWholeEnergyOfAShorterKernel()
    {
        var a = Chain("a", 100e-6, 100e-6, new Op("aten.mm.default", 100e-6, "slow_kernel", 500));
        var b = Chain("b", 50e-6, 50e-6, new Op("aten.mm.default", 50e-6, "fast_kernel", 500));
        Assert.True(a.Energy.GpuBound);
        var f = Assert.Single(Detector.Detect(Session(a, b), [new RegionMatch(1, [0], [0], 0)]));
        Assert.False(f.SavingIsDynamic);
        Assert.Equal(500 * 50e-6, f.JobSavingJ, 12);
    }

    [Theory]
    [InlineData(300.0, 450.0)]
    [InlineData(450.0, 300.0)]
    [InlineData(600.0, 600.0)]
    public void IdenticalOperatorsShareOneEnergyWhateverTheRunsPowers(double powerA, double powerB)
    {
        // The same two operators on both sides (same op, inputs, kernels) and one extra operator in B: the ratio is
        // (E_common + E_extra) / E_common, with E_common one energy for both sides, so the runs' power drift cancels.
        var a = Chain("a", 0.01, 0.01, new Op("aten.add.Tensor", 20e-6, "add_kernel", powerA), new Op("aten.mul.Tensor", 30e-6, "mul_kernel", powerA));
        var b = Chain("b", 0.01, 0.01, new Op("aten.add.Tensor", 20e-6, "add_kernel", powerB), new Op("aten.mul.Tensor", 30e-6, "mul_kernel", powerB),
            new Op("aten.clone.default", 10e-6, "copy_kernel", powerB));
        var sa = RegionSide.Of(a, [0, 1]);
        var sb = RegionSide.Of(b, [0, 1, 2]);
        var e = RegionEnergy.Of(a, [0, 1], sa, b, [0, 1, 2], sb);
        double common = (powerA + powerB) / 2 * 50e-6, extra = powerB * 10e-6;
        Assert.Equal(common, e.Common.ValueJ, 12);
        Assert.Equal(0, e.ExtraA.ValueJ);
        Assert.Equal(extra, e.ExtraB.ValueJ, 12);
        var ratio = e.Ratio(aOverB: false, Detector.RatioCap);
        Assert.Equal((common + extra) / common, ratio.Ratio, 12);
        Assert.True(ratio.Low < ratio.Ratio && ratio.Ratio < ratio.High);
        // Without an extra operator the ratio is exactly 1 however far the two runs' powers are apart.
        var same = RegionEnergy.Of(a, [0, 1], sa, b, [0, 1], RegionSide.Of(b, [0, 1]));
        Assert.Equal(1.0, same.Ratio(aOverB: true, Detector.RatioCap).Ratio, 12);
    }

    [Fact]
    public void ARatioWhoseIntervalReachesBelowTheThresholdIsOnlyPossible()
    {
        // 1.2x with a 10% one-sigma on each side: the interval's low end is well below 1.1.
        var a = Chain("a", 0.01, 0.01, new Op("aten.mm.default", 120e-6, "k1", 500));
        var b = Chain("b", 0.01, 0.01, new Op("aten.mm.default", 100e-6, "k2", 500));
        a.Operators[0].EnergySigmaJ = 0.1 * a.Operators[0].EnergyJ;
        b.Operators[0].EnergySigmaJ = 0.1 * b.Operators[0].EnergyJ;
        var f = Assert.Single(Detector.Detect(Session(a, b), [new RegionMatch(1, [0], [0], 0)]));
        Assert.Equal(Verdict.Possible, f.Verdict);
        Assert.True(f.Interval.Low < 1.1 && f.Interval.High > 1.2);
        // The same ratio measured to 1% is a claim.
        a.Operators[0].EnergySigmaJ = 0.01 * a.Operators[0].EnergyJ;
        b.Operators[0].EnergySigmaJ = 0.01 * b.Operators[0].EnergyJ;
        Assert.Equal(Verdict.Waste, Assert.Single(Detector.Detect(Session(a, b), [new RegionMatch(1, [0], [0], 0)])).Verdict);
    }

    [Fact]
    public void JobEnergyComesFromCounterUpdatesNotWindowEnds()
    {
        // A counter at a steady 500 W that moves every 100 ms, sampled every 5 ms. The baseline window (96 iterations
        // of 10 ms) starts 90 ms after an update and ends 50 ms after one: the window-end reads count 10 updates (500 J)
        // in 0.96 s, 4% high; between the first and last update inside the window it is 450 J in 0.9 s.
        var t = new List<long>();
        var e = new List<long>();
        for (long ns = 0; ns <= 3_000_000_000; ns += 5_000_000)
        {
            t.Add(ns);
            e.Add(ns / 100_000_000 * 50_000); // 50 J per 100 ms update = 500 W
        }
        var samples = new PowerSamples(t.ToArray(), t.Select(_ => -1L).ToArray(), t.Select(_ => -1L).ToArray(), e.ToArray());
        long start = 1_090_000_000, end = 2_050_000_000;
        double endsJ = (e[t.IndexOf(end)] - e[t.IndexOf(start)]) / 1000.0;
        Assert.Equal(500, endsJ, 9);
        var measure = new Measure(new BaselineMeasure(96, 0.96, 0.01, endsJ, endsJ / 96, start, end), null,
            new EnergyPassMeasure(1, 1, 1, 0, 1, 2, 3), null);
        var bundle = new Bundle("x", new Dataflow("magneton-capture/1", null, "x", null, new Dictionary<string, string>(), [], new Dictionary<int, DataflowValue>()),
            new KinetoSummary(1, new Dictionary<int, TraceOperator>(), 0, null, 0, null, null, 0, 0), samples, samples, measure, null, null, null);
        var notes = new List<string>();
        var job = JobEnergy.Measure(bundle, notes);
        Assert.Equal(5.0, job.ValueJ, 9); // 500 W x 10 ms
        Assert.Equal(10, job.Updates);
        Assert.InRange(job.SigmaJ / job.ValueJ, 1e-4, 0.02);
        Assert.Empty(notes);
        // Without the samples only the ends exist: their value, with the quantisation bound as its uncertainty.
        var ends = JobEnergy.Measure(bundle with { BaselinePower = null }, notes);
        Assert.Equal(endsJ / 96, ends.ValueJ, 12);
        Assert.Equal(0, ends.Updates);
        Assert.True(ends.SigmaJ >= 0.04 * ends.ValueJ, $"{ends.SigmaJ / ends.ValueJ}"); // covers the 4% bias
        Assert.Contains(notes, n => n.Contains("window-end"));
    }
}
