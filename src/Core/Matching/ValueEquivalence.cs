using Magneton.Core.Bundles;
using Magneton.Core.Runs;

namespace Magneton.Core.Matching;

/// <summary>
/// Which values of run A are equivalent to which of run B. Built by bucketing on element count and kind,
/// then, within a bucket, a window on the standard deviation, so the cost stays near-linear in the number
/// of values instead of comparing every pair.
/// </summary>
public sealed class ValueEquivalence
{
    readonly HashSet<long> _pairs;
    public int EquivalentValueCount { get; }

    ValueEquivalence(HashSet<long> pairs, int count)
    {
        _pairs = pairs;
        EquivalentValueCount = count;
    }

    public bool Equivalent(int valueA, int valueB) => _pairs.Contains(Key(valueA, valueB));

    static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    public static ValueEquivalence Build(Run a, Run b, double tol = Fingerprint.DefaultTolerance)
    {
        var wanted = ProducedValues(a);
        var floatsB = new Dictionary<long, List<(double Std, DataflowValue V)>>();
        var intsB = new Dictionary<(long, double, double, double), List<DataflowValue>>();
        foreach (var id in ProducedValues(b))
        {
            var v = b.Values[id];
            if (v.Stats is { } s)
            {
                if (!floatsB.TryGetValue(v.Numel, out var list)) floatsB[v.Numel] = list = [];
                list.Add((s.Std, v));
            }
            else if (v.IStats is { } i)
            {
                var k = (v.Numel, i.Sum, i.Min, i.Max);
                if (!intsB.TryGetValue(k, out var list)) intsB[k] = list = [];
                list.Add(v);
            }
        }
        foreach (var list in floatsB.Values) list.Sort((x, y) => x.Std.CompareTo(y.Std));

        var pairs = new HashSet<long>();
        int matchedA = 0;
        foreach (var id in wanted)
        {
            var v = a.Values[id];
            bool any = false;
            if (v.Stats is { } s && floatsB.TryGetValue(v.Numel, out var fl))
            {
                double window = tol * Math.Max(Fingerprint.Rms(s), 1e-30) * 1.5 + 1e-30;
                int lo = LowerBound(fl, s.Std - window);
                for (int j = lo; j < fl.Count && fl[j].Std <= s.Std + window; j++)
                {
                    if (Fingerprint.Equivalent(v, fl[j].V, tol)) { pairs.Add(Key(v.Id, fl[j].V.Id)); any = true; }
                }
            }
            else if (v.IStats is { } i && intsB.TryGetValue((v.Numel, i.Sum, i.Min, i.Max), out var il))
            {
                foreach (var w in il)
                    if (Fingerprint.Equivalent(v, w, tol)) { pairs.Add(Key(v.Id, w.Id)); any = true; }
            }
            if (any) matchedA++;
        }
        return new ValueEquivalence(pairs, matchedA);
    }

    // Only operator outputs can be cut points; parameters and inputs never cut.
    static IEnumerable<int> ProducedValues(Run r) =>
        r.Operators.SelectMany(o => o.Node.Out).Distinct();

    static int LowerBound(List<(double Std, DataflowValue V)> list, double x)
    {
        int lo = 0, hi = list.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (list[mid].Std < x) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
}
