namespace Magneton.Core.Bundles;

/// <summary>
/// The files of one bundle checked against each other, after each was read on its own: a power.csv, trace or
/// measure.json copied from another capture parses fine but measures another run, and the energies then come from
/// samples of the wrong seconds. measure.json's windows are the reference: the trace's sync ranges fall on them,
/// power.csv covers the energy pass, baseline_power.csv the baseline; the trace's operators are the dataflow's and
/// it has the energy pass's iterations. Each disagreement is one line naming the file and the field.
/// </summary>
public static class BundleConsistency
{
    /// <summary>
    /// How far a sample series may stop short of a window's end (or the trace's sync range lie from measure.json's):
    /// more than the energy counter's update period (~100 ms) and the sampler's start-up, far less than the seconds
    /// between two captures.
    /// </summary>
    public const long ToleranceNs = 250_000_000;

    public static void Require(Dataflow dataflow, KinetoSummary kineto, Measure measure, PowerSamples power, PowerSamples? baseline)
    {
        var pass = measure.EnergyPass;
        RequireTraceOnWindow(kineto, pass);
        if (kineto.Operators.Count > 0 && kineto.Iterations != pass.Iterations)
            throw new BundleException(BundleFiles.Kineto, "mg# ranges",
                $"cover {kineto.Iterations} iterations but {BundleFiles.Measure} energy_pass.iterations is {pass.Iterations} (files of different captures?)");
        RequireOperators(dataflow, kineto);
        RequireCovered(power, BundleFiles.Power, pass.SyncBeginStartNs, pass.SyncEndEndNs, "energy pass (measure.json energy_pass.sync_*_unix_ns)");
        if (baseline is not null)
            RequireCovered(baseline, BundleFiles.BaselinePower, measure.Baseline.WindowStartNs, measure.Baseline.WindowEndNs,
                "baseline (measure.json baseline.window_unix_ns)");
    }

    /// <summary>The trace's mg_sync_begin range, on the Unix clock through baseTimeNanoseconds, is measure.json's.</summary>
    static void RequireTraceOnWindow(KinetoSummary kineto, EnergyPassMeasure pass)
    {
        if (kineto.SyncBeginTs is not double ts || kineto.BaseTimeNanoseconds <= 0 || pass.SyncBeginStartNs <= 0) return;
        long traced = kineto.BaseTimeNanoseconds + (long)(ts * 1000);
        long off = traced - pass.SyncBeginStartNs;
        if (Math.Abs(off) > ToleranceNs)
            throw new BundleException(BundleFiles.Kineto, "mg_sync_begin",
                $"is at Unix time {traced} ns, {Seconds(off)} from {BundleFiles.Measure} energy_pass.sync_begin_unix_ns {pass.SyncBeginStartNs} (files of different captures?)");
    }

    static void RequireOperators(Dataflow dataflow, KinetoSummary kineto)
    {
        if (kineto.Operators.Count == 0) return;
        var ops = new Dictionary<int, string>(dataflow.Nodes.Count);
        foreach (var node in dataflow.Nodes)
            if (node.TraceId is int t) ops[t] = node.Op;
        foreach (var (id, op) in kineto.Operators)
        {
            if (!ops.TryGetValue(id, out var expected))
                throw new BundleException(BundleFiles.Kineto, $"mg#{id} ranges",
                    $"name trace_id {id} ({op.Op}), which no node of {BundleFiles.Dataflow} has (files of different captures?)");
            if (expected != op.Op)
                throw new BundleException(BundleFiles.Kineto, $"mg#{id} ranges",
                    $"name operator {op.Op} but {BundleFiles.Dataflow}'s node with trace_id {id} is {expected} (files of different captures?)");
        }
    }

    static void RequireCovered(PowerSamples samples, string file, long start, long end, string window)
    {
        if (samples.Count == 0 || start <= 0 || end < start) return; // no samples: the energy model says what it lacks
        long first = samples.TimeNs[0], last = samples.TimeNs[^1];
        if (first > start + ToleranceNs || last < end - ToleranceNs)
            throw new BundleException(file, "t_unix_ns",
                $"samples span {first}..{last} ns but the {window} is {start}..{end} ns: "
                + $"they {(first > start + ToleranceNs ? $"begin {Seconds(first - start)} late" : $"end {Seconds(end - last)} early")} (a file of another capture?)");
    }

    static string Seconds(long ns) => FormattableString.Invariant($"{Math.Abs(ns) / 1e9:0.###} s");
}
