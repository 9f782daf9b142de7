using System.Runtime.InteropServices;

namespace Magneton.Core.Bundles;

/// <summary>
/// Resolves the scanned tables into per-operator GPU work: launch -> innermost enclosing mg# range on its thread
/// (a sweep over both sorted by time), activity -> launch by correlation id (binary search), then sums.
/// </summary>
internal static class TraceReduction
{
    private const double NsPerSecond = 1e9;

    public static KinetoSummary Reduce(TraceTables t)
    {
        var ranges = CollectionsMarshal.AsSpan(t.Ranges);
        var operators = new Dictionary<int, OperatorAccumulator>();
        var iterations = new HashSet<int>();
        var seen = new HashSet<long>();
        long first = long.MaxValue, last = long.MinValue;
        // File order, before sorting, so an operator's name is the one of its first range as written.
        foreach (ref readonly var r in ranges)
        {
            iterations.Add(r.Iteration);
            ref var acc = ref CollectionsMarshal.GetValueRefOrAddDefault(operators, r.TraceId, out bool exists);
            if (!exists) acc = new OperatorAccumulator(r.TraceId, t.Names.GetString(r.OpName));
            if (seen.Add(((long)r.TraceId << 32) | (uint)r.Iteration)) acc!.Occurrences++;
            acc!.AddRange(r.Iteration, r.End - r.Start);
            first = Math.Min(first, r.Start);
            last = Math.Max(last, r.End);
        }

        var (correlations, traceIds) = LinkLaunches(t);
        // The GPU runs behind the CPU: kernels launched in the last ranges finish after them. Busy time is the union of
        // GPU activity inside the synchronised window (mg_sync_begin .. mg_sync_end), not clipped to the ranges' CPU span.
        (long, long)? window = t.SyncBeginNs is long sb && t.SyncEndNs is long se && se > sb ? (sb, se) : null;
        double busy = Attribute(t, correlations, traceIds, operators, window);

        var result = new Dictionary<int, TraceOperator>(operators.Count);
        foreach (var key in operators.Keys.Order())
            result.Add(key, operators[key].ToTraceOperator(t.Names));

        return new KinetoSummary(
            iterations.Count,
            result,
            t.EventCount,
            t.DeviceName,
            t.BaseTimeNanoseconds,
            t.SyncBeginNs is { } b ? b / 1000.0 : null,
            t.SyncEndNs is { } e ? e / 1000.0 : null,
            busy,
            ranges.IsEmpty ? 0 : (last - first) / NsPerSecond);
    }

    /// <summary>
    /// For every launch inside some mg# range: its correlation id and the trace_id of the innermost range, as two
    /// arrays sorted by correlation id.
    /// </summary>
    private static (long[] Correlations, int[] TraceIds) LinkLaunches(TraceTables t)
    {
        var ranges = CollectionsMarshal.AsSpan(t.Ranges);
        var launches = CollectionsMarshal.AsSpan(t.Launches);
        // Outer before inner at equal starts (longer first), so the stack top is always the innermost candidate.
        ranges.Sort(static (a, b) => a.Thread != b.Thread ? a.Thread.CompareTo(b.Thread)
            : a.Start != b.Start ? a.Start.CompareTo(b.Start) : b.End.CompareTo(a.End));
        launches.Sort(static (a, b) => a.Thread != b.Thread ? a.Thread.CompareTo(b.Thread) : a.Ts.CompareTo(b.Ts));

        var correlations = new long[launches.Length];
        var traceIds = new int[launches.Length];
        int linked = 0;
        var stack = new List<int>();
        int next = 0, thread = -1;
        foreach (ref readonly var launch in launches)
        {
            if (launch.Thread != thread)
            {
                thread = launch.Thread;
                stack.Clear();
                while (next < ranges.Length && ranges[next].Thread < thread) next++;
            }
            while (next < ranges.Length && ranges[next].Thread == thread && ranges[next].Start <= launch.Ts)
            {
                // Ranges that ended before this one starts can contain no later launch either.
                while (stack.Count > 0 && ranges[stack[^1]].End < ranges[next].Start) stack.RemoveAt(stack.Count - 1);
                stack.Add(next++);
            }
            while (stack.Count > 0 && ranges[stack[^1]].End < launch.Ts) stack.RemoveAt(stack.Count - 1);
            // Every range above a survivor ended before this launch, so the top is the latest-starting range that
            // contains it: the innermost one, even when ranges overlap without nesting.
            if (stack.Count == 0) continue;
            correlations[linked] = launch.Correlation;
            traceIds[linked] = ranges[stack[^1]].TraceId;
            linked++;
        }

        Array.Resize(ref correlations, linked);
        Array.Resize(ref traceIds, linked);
        Array.Sort(correlations, traceIds);
        return (correlations, traceIds);
    }

    /// <summary>Sums activities into their operators in time order and returns the GPU busy time (union of intervals).</summary>
    private static double Attribute(TraceTables t, long[] correlations, int[] traceIds,
        Dictionary<int, OperatorAccumulator> operators, (long Start, long End)? window)
    {
        var activities = CollectionsMarshal.AsSpan(t.Activities);
        activities.Sort(static (a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : a.Sequence.CompareTo(b.Sequence));

        long lo = window?.Start ?? long.MinValue, hi = window?.End ?? long.MaxValue;
        long busy = 0, spanStart = 0, spanEnd = long.MinValue;
        OperatorAccumulator? lastAcc = null;
        int lastTraceId = int.MinValue;
        foreach (ref readonly var a in activities)
        {
            long s = Math.Max(a.Start, lo), e = Math.Min(a.Start + a.Duration, hi);
            if (e > s)
            {
                if (s > spanEnd)
                {
                    if (spanEnd > spanStart) busy += spanEnd - spanStart;
                    spanStart = s;
                    spanEnd = e;
                }
                else if (e > spanEnd) spanEnd = e;
            }

            int at = Array.BinarySearch(correlations, a.Correlation);
            if (at < 0) continue;
            int traceId = traceIds[at];
            // Consecutive kernels usually belong to the same operator; skip the dictionary lookup then.
            if (traceId != lastTraceId)
            {
                lastAcc = operators[traceId];
                lastTraceId = traceId;
            }
            lastAcc!.Add(a);
        }
        if (spanEnd > spanStart) busy += spanEnd - spanStart;
        return busy / NsPerSecond;
    }
}
