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

    public static void Require(Bundle b)
    {
        var pass = b.Measure.EnergyPass;
        RequireSameSystem(b.Dataflow, b.Measure, b.Replay);
        RequireTraceOnWindow(b.Kineto, pass);
        if (b.Kineto.Operators.Count > 0 && b.Kineto.Iterations != pass.Iterations)
            throw new BundleException(BundleFiles.Kineto, "mg# ranges",
                $"cover {b.Kineto.Iterations} iterations but {BundleFiles.Measure} energy_pass.iterations is {pass.Iterations} (files of different captures?)");
        RequireOperators(b.Dataflow, b.Kineto);
        RequireCovered(b.Power, BundleFiles.Power, pass.SyncBeginStartNs, pass.SyncEndEndNs, "energy pass (measure.json energy_pass.sync_*_unix_ns)");
        if (b.BaselinePower is { } baseline)
            RequireCovered(baseline, BundleFiles.BaselinePower, b.Measure.Baseline.WindowStartNs, b.Measure.Baseline.WindowEndNs,
                "baseline (measure.json baseline.window_unix_ns)");
        if (b.ReplayCounter is { } counter && b.Replay is { } replay && ReplayWindow(replay) is var (from, to) && to > 0)
            RequireCovered(counter, BundleFiles.ReplayCounter, from, to, "replay (replay.json window_unix_ns)");
        if (b.Context is { } context) ContextConsistency.Require(context, b.Dataflow);
    }

    /// <summary>
    /// measure.json and replay.json name the system dataflow.json does: checked first (the reader calls it before it
    /// checks replay.json's operators against the dataflow), so a swapped file is named as from another capture.
    /// </summary>
    public static void RequireSameSystem(Dataflow dataflow, Measure measure, ReplayDocument? replay)
    {
        if (measure.System is { } m && m != dataflow.System)
            throw new BundleException(BundleFiles.Measure, "system",
                $"is \"{m}\" but {BundleFiles.Dataflow}'s system is \"{dataflow.System}\" (files of different captures?)");
        if (replay?.System is { } r && r != dataflow.System)
            throw new BundleException(BundleFiles.Replay, "system",
                $"is \"{r}\" but {BundleFiles.Dataflow}'s system is \"{dataflow.System}\" (files of different captures?)");
    }

    static (long From, long To) ReplayWindow(ReplayDocument replay)
    {
        long from = long.MaxValue, to = 0;
        if (replay.Idle is { } idle) (from, to) = (idle.WindowStartNs, idle.WindowEndNs);
        foreach (var item in replay.Items)
            if (item.WindowEndNs > 0)
                (from, to) = (Math.Min(from, item.WindowStartNs), Math.Max(to, item.WindowEndNs));
        return (from, to);
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

    internal static void RequireCovered(PowerSamples samples, string file, long start, long end, string window)
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
