using Magneton.Core.Matching;

namespace Magneton.Grains;

/// <summary>A run of consecutive top-level segments of a job's session, matched by one worker grain.</summary>
internal readonly record struct SegmentBatch(int First, int Count)
{
    public IEnumerable<int> Indices => Enumerable.Range(First, Count);
}

/// <summary>How a job's segments are dealt to at most a given number of workers.</summary>
internal static class SegmentBatches
{
    /// <summary>
    /// Consecutive runs of about equal operator counts (both sides), one per worker, never empty; with no more segments
    /// than workers, one segment each. Deterministic: a resumed job deals the same segments to the same workers.
    /// </summary>
    public static IReadOnlyList<SegmentBatch> Split(IReadOnlyList<Segment> segments, int workers)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1);
        int n = segments.Count, batches = Math.Min(n, workers);
        var result = new List<SegmentBatch>(batches);
        if (batches == n)
        {
            for (int i = 0; i < n; i++) result.Add(new SegmentBatch(i, 1));
            return result;
        }
        long total = 0;
        foreach (var s in segments) total += Weight(s);
        long done = 0;
        int first = 0;
        for (int i = 0; i < n; i++)
        {
            done += Weight(segments[i]);
            int left = batches - result.Count - 1;  // batches still to fill after the current one
            bool full = done * batches >= total * (result.Count + 1);
            // Close the current batch once it holds its share, or when every later batch needs one of the rest.
            if (left > 0 && (full || n - 1 - i == left))
            {
                result.Add(new SegmentBatch(first, i + 1 - first));
                first = i + 1;
            }
        }
        result.Add(new SegmentBatch(first, n - first));
        return result;
    }

    // At least one: an empty segment still costs its visit.
    static long Weight(Segment s) => 1 + s.NodesA.Length + s.NodesB.Length;
}
