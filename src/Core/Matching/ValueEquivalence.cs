using Magneton.Core.Bundles;
using Magneton.Core.Runs;

namespace Magneton.Core.Matching;

/// <summary>
/// Which values of run A are equivalent to which of run B. Built by bucketing on element count and kind,
/// then, within a bucket, a window on the standard deviation, so the cost stays near-linear in the number
/// of values instead of comparing every pair. Where the window on the standard deviation is wide (a value whose
/// mean dominates its spread: positions, masks, counters), the candidates are taken from a window on the mean
/// instead, which every equivalent value must also fall in; the pairs are the same either way.
/// </summary>
public sealed class ValueEquivalence
{
    readonly HashSet<long> _pairs;
    // For each A value id (dense index), the equivalent B value ids: CSR offsets into _partners.
    readonly int[] _start;
    readonly int[] _partners;
    /// <summary>Values of A (produced by an operator) with at least one equivalent in B.</summary>
    public int EquivalentValueCount { get; }
    /// <summary>Values of B (produced by an operator) with at least one equivalent in A.</summary>
    public int EquivalentValueCountB { get; }
    /// <summary>Values produced by an operator in A and in B: what could be equivalent at all.</summary>
    public int ProducedValueCountA { get; }
    public int ProducedValueCountB { get; }

    ValueEquivalence(HashSet<long> pairs, int count, int countB, int producedA, int producedB, int[] start, int[] partners)
    {
        _pairs = pairs;
        EquivalentValueCount = count;
        EquivalentValueCountB = countB;
        ProducedValueCountA = producedA;
        ProducedValueCountB = producedB;
        _start = start;
        _partners = partners;
    }

    public bool Equivalent(int valueA, int valueB) => _pairs.Contains(Key(valueA, valueB));

    /// <summary>The B values equivalent to A value <paramref name="valueA"/>, in no particular order.</summary>
    public ReadOnlySpan<int> PartnersOf(int valueA) =>
        (uint)valueA + 1 < (uint)_start.Length ? _partners.AsSpan(_start[valueA], _start[valueA + 1] - _start[valueA]) : [];

    static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    /// <summary>
    /// long's own hash is the xor of its halves, which is 0 for every pair (v, v): runs of the same program number
    /// their values alike, so all those pairs would share one bucket and the set would be quadratic. Mix instead.
    /// </summary>
    sealed class PairHash : IEqualityComparer<long>
    {
        public static readonly PairHash Instance = new();
        public bool Equals(long x, long y) => x == y;
        public int GetHashCode(long key)
        {
            ulong h = (ulong)key * 0x9E3779B97F4A7C15UL;
            return (int)(h >> 32) ^ (int)h;
        }
    }

    /// <summary>One B value of a float bucket: what the window tests read, without chasing the record.</summary>
    readonly record struct FloatEntry(double Std, double Mean, DataflowValue V);

    sealed class FloatBucket
    {
        public readonly List<FloatEntry> ByStd = [];
        // Positions in ByStd, ordered by mean (values whose mean is NaN left out: they only match a NaN mean).
        public int[] ByMean = [];
        public double[] Means = [];
    }

    public static ValueEquivalence Build(Run a, Run b, double tol = Fingerprint.DefaultTolerance)
    {
        var wanted = ProducedValues(a).ToList();
        var (floatsB, intsB, producedB) = IndexSide(b);

        var pairs = new HashSet<long>(PairHash.Instance);
        int matchedA = 0;
        var found = new List<(int A, int B)>();
        foreach (var id in wanted)
        {
            var v = a.Values[id];
            bool any = false;
            if (v.Stats is { } s && floatsB.TryGetValue(v.Numel, out var bucket))
            {
                var fl = bucket.ByStd;
                double window = tol * Math.Max(Fingerprint.Rms(s), 1e-30) * 1.5 + 1e-30;
                int lo = LowerBound(fl, s.Std - window);
                int hi = EndOfWindow(fl, lo, s.Std + window);
                if (hi - lo > 32 && !double.IsNaN(s.Mean) && MeanRange(bucket, s, window, tol, out int mlo, out int mhi) && mhi - mlo < hi - lo)
                {
                    // Every equivalent value's mean is within the bound: test only those whose deviation is in the window.
                    for (int k = mlo; k < mhi; k++)
                    {
                        int j = bucket.ByMean[k];
                        if (j < lo || j >= hi) continue;
                        if (Fingerprint.Equivalent(v, fl[j].V, tol)) { if (pairs.Add(Key(v.Id, fl[j].V.Id))) found.Add((v.Id, fl[j].V.Id)); any = true; }
                    }
                }
                else
                {
                    for (int j = lo; j < hi; j++)
                    {
                        if (Fingerprint.Equivalent(v, fl[j].V, tol)) { if (pairs.Add(Key(v.Id, fl[j].V.Id))) found.Add((v.Id, fl[j].V.Id)); any = true; }
                    }
                }
            }
            else if (v.IStats is { } i && intsB.TryGetValue((v.Numel, i.Sum, i.Min, i.Max), out var il))
            {
                foreach (var w in il)
                    if (Fingerprint.Equivalent(v, w, tol)) { if (pairs.Add(Key(v.Id, w.Id))) found.Add((v.Id, w.Id)); any = true; }
            }
            if (any) matchedA++;
        }

        // Partner lists per A value id.
        int maxA = found.Count == 0 ? -1 : found.Max(p => p.A);
        var start = new int[maxA + 2];
        foreach (var (x, _) in found) start[x + 1]++;
        for (int k = 1; k < start.Length; k++) start[k] += start[k - 1];
        var fill = start.ToArray();
        var partners = new int[found.Count];
        foreach (var (x, y) in found) partners[fill[x]++] = y;
        int matchedB = found.Select(p => p.B).Distinct().Count();
        return new ValueEquivalence(pairs, matchedA, matchedB, wanted.Count, producedB, start, partners);
    }

    /// <summary>
    /// The values a side's operators produce, by what an equivalent value must share: float values by element count,
    /// sorted by standard deviation and by mean (for window searches); integer values by count, sum, min and max.
    /// </summary>
    static (Dictionary<long, FloatBucket> Floats, Dictionary<(long, double, double, double), List<DataflowValue>> Ints, int Produced)
        IndexSide(Run b)
    {
        int producedB = 0;
        var floatsB = new Dictionary<long, FloatBucket>();
        var intsB = new Dictionary<(long, double, double, double), List<DataflowValue>>();
        foreach (var id in ProducedValues(b))
        {
            producedB++;
            var v = b.Values[id];
            if (v.Stats is { } s)
            {
                if (!floatsB.TryGetValue(v.Numel, out var bucket)) floatsB[v.Numel] = bucket = new FloatBucket();
                bucket.ByStd.Add(new FloatEntry(s.Std, s.Mean, v));
            }
            else if (v.IStats is { } i)
            {
                var k = (v.Numel, i.Sum, i.Min, i.Max);
                if (!intsB.TryGetValue(k, out var list)) intsB[k] = list = [];
                list.Add(v);
            }
        }
        foreach (var bucket in floatsB.Values)
        {
            // Windows are ranges of standard deviations: which of equal ones comes first does not matter.
            bucket.ByStd.Sort((x, y) => x.Std.CompareTo(y.Std));
            var sorted = bucket.ByStd;
            var byMean = Enumerable.Range(0, sorted.Count).Where(i => !double.IsNaN(sorted[i].Mean)).ToArray();
            var means = byMean.Select(i => sorted[i].Mean).ToArray();
            Array.Sort(means, byMean);
            bucket.ByMean = byMean;
            bucket.Means = means;
        }
        return (floatsB, intsB, producedB);
    }

    /// <summary>
    /// The entries whose mean may be close enough: Near(mean) needs |ma - mb| &lt;= tol max(Ra, Rb), and with the
    /// deviation inside the window, |mb| is bounded, hence so is max(Ra, Rb).
    /// </summary>
    static bool MeanRange(FloatBucket bucket, FloatStats s, double window, double tol, out int lo, out int hi)
    {
        lo = hi = 0;
        double ra = Math.Max(Fingerprint.Rms(s), 1e-30);
        double spread = Math.Abs(s.Std) + window;
        double bound = Math.Max(tol * ra, tol * (Math.Abs(s.Mean) + spread) / (1 - tol));
        bound = bound * (1 + 1e-6) + 1e-300;
        if (!double.IsFinite(bound) || tol >= 1) return false;
        lo = LowerBound(bucket.Means, s.Mean - bound);
        hi = UpperBound(bucket.Means, s.Mean + bound);
        return true;
    }

    // Only operator outputs can be cut points; parameters and inputs never cut.
    static IEnumerable<int> ProducedValues(Run r) =>
        r.Operators.SelectMany(o => o.Node.Out).Distinct();

    static int LowerBound(List<FloatEntry> list, double x)
    {
        int lo = 0, hi = list.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (list[mid].Std < x) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>Where the scan from <paramref name="lo"/> stops: the first entry not &lt;= x (a NaN stops it at once).</summary>
    static int EndOfWindow(List<FloatEntry> list, int lo, double x)
    {
        if (lo >= list.Count || !(list[lo].Std <= x)) return lo;
        // From lo on the entries are ordered numbers (NaNs sort first), so the condition is true then false.
        int l = lo + 1, h = list.Count;
        while (l < h)
        {
            int mid = (l + h) >>> 1;
            if (list[mid].Std <= x) l = mid + 1; else h = mid;
        }
        return l;
    }

    static int LowerBound(double[] a, double x)
    {
        int lo = 0, hi = a.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (a[mid] < x) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    static int UpperBound(double[] a, double x)
    {
        int lo = 0, hi = a.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (a[mid] <= x) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
}
