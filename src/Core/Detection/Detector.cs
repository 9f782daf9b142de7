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
        // Regions of two unrelated graphs are not equivalent whatever the matcher paired: no claim at all.
        if (!Comparability.Of(s, regions).Comparable) return [];
        var pairs = new List<CauseGroups.Pair>();
        foreach (var r in regions)
        {
            var a = RegionSide.Of(s.A, r.NodesA);
            var b = RegionSide.Of(s.B, r.NodesB);
            if (cpu ? a.CpuSeconds <= 0 && b.CpuSeconds <= 0 : a.EnergyJ <= 0 && b.EnergyJ <= 0) continue;
            if (s.Options.SameWorkGuard && SameWork(s, r)) continue;
            pairs.Add(new CauseGroups.Pair(r, a, b, RegionEnergy.Of(s.A, r.NodesA, a, s.B, r.NodesB, b)));
        }
        Func<IReadOnlyList<CauseGroups.Pair>, (double A, double B)> cost = cpu
            ? ps => (ps.Sum(x => x.A.CpuSeconds), ps.Sum(x => x.B.CpuSeconds))
            : ps => { var e = RegionEnergy.Sum(ps.Select(x => x.Energy).ToList()); return (e.A.ValueJ, e.B.ValueJ); };

        // The threshold and the floor judge a cause's total over all its sites, not each site alone.
        var findings = new List<Finding>();
        foreach (var g in CauseGroups.Of(s, pairs, cost))
            if ((cpu ? CpuTimeFinding(s, g) : EnergyFinding(s, g)) is { } f) findings.Add(f);
        return findings
            .OrderBy(f => f.Verdict switch { Verdict.Waste => 0, Verdict.TradeOff => 1, _ => 2 })
            .ThenByDescending(f => f.EnergyDeltaJ)
            .ThenByDescending(f => f.WastefulSeconds - f.EfficientSeconds)
            .Select((f, i) => f with { Id = i + 1 })
            .ToList();
    }

    /// <summary>
    /// A cause's energies on one basis over all its sites, with their interval: the point ratio must clear the
    /// threshold and the difference the floor; a claim (waste, trade-off) needs the interval's lower bound above the
    /// threshold too, otherwise the difference is possible but below resolution.
    /// </summary>
    static Finding? EnergyFinding(MatchSession s, CauseGroups.Group g)
    {
        bool aWastes = g.AWastes;
        var parts = RegionEnergy.OnOneBasis(g.Pairs.Select(x => x.Energy).ToList());
        var energy = RegionEnergy.Sum(parts);
        var (w, e) = aWastes ? (energy.A, energy.B) : (energy.B, energy.A);
        double ew = w.ValueJ, ee = e.ValueJ;
        double tw = g.Pairs.Sum(x => (aWastes ? x.A : x.B).GpuSeconds), te = g.Pairs.Sum(x => (aWastes ? x.B : x.A).GpuSeconds);
        var interval = energy.Ratio(aWastes, RatioCap);
        if (interval.Ratio < 1 + s.Options.Threshold) return null;
        var wastefulRun = aWastes ? s.A : s.B;
        if (ew - ee < MinShareOfJob * wastefulRun.Energy.IterationEnergyJ) return null;
        var verdict = !interval.Clears(1 + s.Options.Threshold) ? Verdict.Possible
            : te <= (1 + s.Options.TimeTolerance) * tw ? Verdict.Waste : Verdict.TradeOff;
        var all = g.Pairs.SelectMany(x => new[] { x.A, x.B }).ToList();
        string source = string.Join("+", all.SelectMany(x => x.SourceShares.Keys).Distinct().Order().Select(EnergySources.Json));
        double total = all.Sum(x => x.EnergyJ);
        var shares = EnergySources.Measured.Where(k => all.Any(x => x.SourceShares.ContainsKey(k)))
            .ToDictionary(k => k, k => total > 0 ? all.Sum(x => x.SourceShares.GetValueOrDefault(k) * x.EnergyJ) / total : 0);
        bool dynamicOnly = !wastefulRun.Energy.GpuBound;
        double saving = dynamicOnly ? Math.Max(0, ew - ee - wastefulRun.Energy.IdlePowerW * (tw - te)) : ew - ee;
        var sites = CauseGroups.Sites(g, parts);
        return new Finding(0, verdict, Sides.Of(aWastes), g.Pairs.Select(x => x.Region.Id).Order().ToList(), g.Pairs.Count,
            ew, ee, tw, te, source.Length == 0 ? "none" : source, CauseGroups.Where(sites))
        {
            Kind = g.Kind, Sites = sites,
            Interval = interval, Basis = energy.Basis, SourceShares = shares, JobSavingJ = saving, SavingIsDynamic = dynamicOnly,
            InSituRatio = energy.InSitu?.Ratio(aWastes, RatioCap).Ratio,
        };
    }

    /// <summary>The same rule on CPU time; no energy was measured, so the energies are zero and no claim is made on them.</summary>
    static Finding? CpuTimeFinding(MatchSession s, CauseGroups.Group g)
    {
        bool aWastes = g.AWastes;
        double tw = g.Pairs.Sum(x => (aWastes ? x.A : x.B).CpuSeconds), te = g.Pairs.Sum(x => (aWastes ? x.B : x.A).CpuSeconds);
        if (tw < (1 + s.Options.Threshold) * te) return null;
        if (tw - te < MinShareOfJob * (aWastes ? s.A : s.B).Energy.IterationSeconds) return null;
        var sites = CauseGroups.Sites(g, g.Pairs.Select(x => x.Energy).ToList());
        return new Finding(0, Verdict.CpuTime, Sides.Of(aWastes), g.Pairs.Select(x => x.Region.Id).Order().ToList(), g.Pairs.Count,
            g.Pairs.Sum(x => (aWastes ? x.A : x.B).EnergyJ), g.Pairs.Sum(x => (aWastes ? x.B : x.A).EnergyJ), tw, te, "none",
            CauseGroups.Where(sites)) { Kind = g.Kind, Sites = sites };
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
