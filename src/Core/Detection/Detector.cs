using Magneton.Core.Energy;
using Magneton.Core.Matching;
using Magneton.Core.Runs;

namespace Magneton.Core.Detection;

/// <summary>
/// The 10%/1%/1% rule over region pairs grouped by cause (<see cref="CauseGroups"/>): waste when the wasteful side spends at least
/// (1 + threshold) times the energy, the efficient side is at most 1% slower and the outputs are equivalent
/// (they are by construction: regions end on equivalent values); a trade-off when the efficient side is slower.
/// A CPU capture measured no energy: there the same rule runs on CPU time (the regions' aligned profiler ranges),
/// every finding's verdict is "cpu-time" and its energies are zero, never waste.
/// </summary>
public static class Detector
{
    public const double RatioCap = 1000;

    /// <summary>
    /// Differences below this share of the wasteful run's measured iteration energy are not reported: they are
    /// below what the energy model can resolve (timeline power is one number for many operators).
    /// </summary>
    public const double MinShareOfJob = 0.002;

    public static IReadOnlyList<Finding> Detect(MatchSession s, IReadOnlyList<RegionMatch> regions)
    {
        bool cpu = s.A.IsCpuCapture || s.B.IsCpuCapture;
        Func<RegionSide, double> cost = cpu ? x => x.CpuSeconds : x => x.EnergyJ;
        // Regions of two unrelated graphs are not equivalent whatever the matcher paired: no claim at all.
        if (!Comparability.Of(s, regions).Comparable) return [];
        var pairs = new List<CauseGroups.Pair>();
        foreach (var r in regions)
        {
            var a = RegionSide.Of(s.A, r.NodesA);
            var b = RegionSide.Of(s.B, r.NodesB);
            if (cost(a) <= 0 && cost(b) <= 0) continue;
            if (SameWork(s, r)) continue;
            pairs.Add(new CauseGroups.Pair(r, a, b));
        }

        // The threshold and the floor judge a cause's total over all its sites, not each site alone.
        var findings = new List<Finding>();
        foreach (var g in CauseGroups.Of(s, pairs, cost))
        {
            bool aWastes = g.AWastes;
            var wasteful = g.Pairs.Select(x => aWastes ? x.A : x.B).ToList();
            var efficient = g.Pairs.Select(x => aWastes ? x.B : x.A).ToList();
            double cw = wasteful.Sum(cost), ce = efficient.Sum(cost);
            double ew = wasteful.Sum(x => x.EnergyJ), ee = efficient.Sum(x => x.EnergyJ);
            double tw = wasteful.Sum(x => cpu ? x.CpuSeconds : x.GpuSeconds), te = efficient.Sum(x => cpu ? x.CpuSeconds : x.GpuSeconds);
            if (cw < (1 + s.Options.Threshold) * ce) continue;
            var wastefulRun = aWastes ? s.A : s.B;
            if (cw - ce < MinShareOfJob * (cpu ? wastefulRun.Energy.IterationSeconds : wastefulRun.Energy.IterationEnergyJ)) continue;
            string verdict = cpu ? Finding.CpuTime : te <= (1 + s.Options.TimeTolerance) * tw ? Finding.Waste : Finding.TradeOff;
            string source = string.Join("+", wasteful.Concat(efficient).Select(x => x.EnergySource)
                .SelectMany(x => x.Split('+')).Where(x => x != "none").Distinct().OrderBy(x => x));
            var sites = CauseGroups.Sites(g);
            findings.Add(new Finding(0, verdict, aWastes ? "a" : "b", g.Pairs.Select(x => x.Region.Id).Order().ToList(), g.Pairs.Count,
                ew, ee, tw, te, source, CauseGroups.Where(sites)) { Kind = g.Kind, Sites = sites });
        }
        return findings
            .OrderBy(f => f.Verdict == Finding.Waste ? 0 : 1)
            .ThenByDescending(f => f.EnergyDeltaJ)
            .ThenByDescending(f => f.WastefulSeconds - f.EfficientSeconds)
            .Select((f, i) => f with { Id = i + 1 })
            .ToList();
    }

    /// <summary>
    /// Both sides run the same operators on the same input signatures and launch the same kernels: any energy
    /// difference is measurement variation, not software, and no finding may blame an operator for it.
    /// </summary>
    internal static bool SameWork(MatchSession s, RegionMatch r)
    {
        var a = r.NodesA.Select(i => s.A.Operators[i]).Where(o => !o.IsPureView).ToList();
        var b = r.NodesB.Select(i => s.B.Operators[i]).Where(o => !o.IsPureView).ToList();
        if (a.Count != b.Count) return false;
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i].Op != b[i].Op) return false;
            if (EnergyModel.Signature(s.A, a[i]) != EnergyModel.Signature(s.B, b[i])) return false;
            if (!a[i].Kernels.Select(k => k.Name).SequenceEqual(b[i].Kernels.Select(k => k.Name))) return false;
        }
        return true;
    }
}
