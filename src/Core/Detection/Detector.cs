using Magneton.Core.Energy;
using Magneton.Core.Matching;
using Magneton.Core.Runs;

namespace Magneton.Core.Detection;

/// <summary>
/// The 10%/1%/1% rule over grouped region pairs: waste when the wasteful side spends at least
/// (1 + threshold) times the energy, the efficient side is at most 1% slower and the outputs are equivalent
/// (they are by construction: regions end on equivalent values); a trade-off when the efficient side is slower.
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
        var groups = new Dictionary<string, List<(RegionMatch R, RegionSide A, RegionSide B, RegionEnergy E)>>();
        var order = new List<string>();
        foreach (var r in regions)
        {
            var a = RegionSide.Of(s.A, r.NodesA);
            var b = RegionSide.Of(s.B, r.NodesB);
            if (a.EnergyJ <= 0 && b.EnergyJ <= 0) continue;
            if (s.Options.SameWorkGuard && SameWork(s, r)) continue;
            var key = RegionKey.Of(a, b);
            if (!groups.TryGetValue(key, out var list)) { groups[key] = list = []; order.Add(key); }
            list.Add((r, a, b, RegionEnergy.Of(s.A, r.NodesA, a, s.B, r.NodesB, b)));
        }

        var findings = new List<Finding>();
        foreach (var key in order)
        {
            var g = groups[key];
            var energy = RegionEnergy.Sum(g.Select(x => x.E).ToList());
            double ea = energy.A.ValueJ, eb = energy.B.ValueJ;
            double ta = g.Sum(x => x.A.GpuSeconds), tb = g.Sum(x => x.B.GpuSeconds);
            bool aWastes = ea > eb;
            double ew = aWastes ? ea : eb, ee = aWastes ? eb : ea;
            double tw = aWastes ? ta : tb, te = aWastes ? tb : ta;
            var interval = energy.Ratio(aWastes, RatioCap);
            if (interval.Ratio < 1 + s.Options.Threshold) continue;
            var wastefulRun = aWastes ? s.A : s.B;
            if (ew - ee < MinShareOfJob * wastefulRun.Energy.IterationEnergyJ) continue;
            // A claim needs the whole interval above the threshold; otherwise it is a possible difference below resolution.
            string verdict = !interval.Clears(1 + s.Options.Threshold) ? Finding.Possible
                : te <= (1 + s.Options.TimeTolerance) * tw ? Finding.Waste : Finding.TradeOff;
            var sides = g.Select(x => aWastes ? x.A : x.B).ToList();
            var all = g.SelectMany(x => new[] { x.A, x.B }).ToList();
            string source = string.Join("+", all.SelectMany(x => x.SourceShares.Keys).Distinct().Order().Select(EnergySources.Json));
            double total = all.Sum(x => x.EnergyJ);
            var shares = EnergySources.Measured.Where(k => all.Any(x => x.SourceShares.ContainsKey(k)))
                .ToDictionary(k => k, k => total > 0 ? all.Sum(x => x.SourceShares.GetValueOrDefault(k) * x.EnergyJ) / total : 0);
            bool dynamicOnly = !wastefulRun.Energy.GpuBound;
            double saving = dynamicOnly ? Math.Max(0, ew - ee - wastefulRun.Energy.IdlePowerW * (tw - te)) : ew - ee;
            string where = string.Join(", ", sides.SelectMany(x => x.Modules).Select(RegionKey.FoldIndices).Distinct().Take(3));
            findings.Add(new Finding(0, verdict, aWastes ? "a" : "b", g.Select(x => x.R.Id).ToList(), g.Count,
                ew, ee, tw, te, source.Length == 0 ? "none" : source, where)
            {
                Interval = interval, Basis = energy.Basis, SourceShares = shares, JobSavingJ = saving, SavingIsDynamic = dynamicOnly,
                InSituRatio = energy.InSitu?.Ratio(aWastes, RatioCap).Ratio,
            });
        }
        return findings
            .OrderBy(f => f.Verdict switch { Finding.Waste => 0, Finding.TradeOff => 1, _ => 2 })
            .ThenByDescending(f => f.EnergyDeltaJ)
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
