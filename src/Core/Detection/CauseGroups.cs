using Magneton.Core.Matching;
using Magneton.Core.Runs;

namespace Magneton.Core.Detection;

/// <summary>
/// Region pairs gathered into causes, before any threshold: first patterns (the same operators on both sides in
/// the same module, layer and step indices folded), each classified with its wasteful side; then the patterns of
/// one cause (<see cref="RegionCause.Key"/>) and one wasteful side are one group, whatever module or layer they
/// sit in. A small extra operator at many sites, each under the floor, is then one cause whose total is judged.
/// </summary>
public static class CauseGroups
{
    /// <param name="Energy">The pair's energies as the ratio sees them (replayed module calls, or common mode).</param>
    public sealed record Pair(RegionMatch Region, RegionSide A, RegionSide B, RegionEnergy Energy);

    /// <summary>The pairs of one cause, in graph order of their first pattern; the wasteful side is that of every pattern.</summary>
    public sealed record Group(CauseKind Kind, bool AWastes, IReadOnlyList<Pair> Pairs);

    /// <param name="cost">
    /// What each side spends on some pairs, the wasteful side spending more: energy as the ratio sees it, or CPU time for CPU captures.
    /// </param>
    public static List<Group> Of(MatchSession s, IEnumerable<Pair> pairs, Func<IReadOnlyList<Pair>, (double A, double B)> cost)
    {
        var patterns = new Dictionary<string, List<Pair>>();
        var patternOrder = new List<string>();
        foreach (var p in pairs)
        {
            var key = RegionKey.Of(p.A, p.B);
            if (!patterns.TryGetValue(key, out var list)) { patterns[key] = list = []; patternOrder.Add(key); }
            list.Add(p);
        }

        var groups = new Dictionary<(bool, string), (CauseKind Kind, List<Pair> Pairs)>();
        var order = new List<(bool, string)>();
        foreach (var key in patternOrder)
        {
            var pattern = patterns[key];
            var (ca, cb) = cost(pattern);
            bool aWastes = ca > cb;
            var cause = CauseClassifier.Classify(s, pattern.Select(x => x.Region).ToList(), aWastes);
            var id = (aWastes, cause.Key);
            if (!groups.TryGetValue(id, out var g)) { groups[id] = g = (cause.Kind, []); order.Add(id); }
            g.Pairs.AddRange(pattern);
        }
        return order.Select(id => new Group(groups[id].Kind, id.Item1, groups[id].Pairs)).ToList();
    }

    /// <summary>
    /// A group's pairs by the wasteful side's modules (indices kept), largest energy difference first.
    /// <paramref name="energies"/> holds each pair's energies (in the order of <see cref="Group.Pairs"/>) on the basis
    /// the finding's total was summed on, so that the sites add up to it.
    /// </summary>
    public static List<FindingSite> Sites(Group g, IReadOnlyList<RegionEnergy> energies)
    {
        var sites = new Dictionary<string, List<(Pair P, RegionEnergy E)>>();
        var order = new List<string>();
        foreach (var (p, e) in g.Pairs.Zip(energies))
        {
            var side = g.AWastes ? p.A : p.B;
            string where = side.Modules.Count == 0 ? "(no module)" : string.Join(", ", side.Modules);
            if (!sites.TryGetValue(where, out var list)) { sites[where] = list = []; order.Add(where); }
            list.Add((p, e));
        }
        return order.Select(w =>
            {
                var ps = sites[w];
                return new FindingSite(w, ps.Select(x => x.P.Region.Id).ToList(),
                    ps.Sum(x => (g.AWastes ? x.E.A : x.E.B).ValueJ), ps.Sum(x => (g.AWastes ? x.E.B : x.E.A).ValueJ),
                    ps.Sum(x => (g.AWastes ? x.P.A : x.P.B).GpuSeconds), ps.Sum(x => (g.AWastes ? x.P.B : x.P.A).GpuSeconds));
            })
            .OrderByDescending(x => x.EnergyDeltaJ)
            .ToList();
    }

    /// <summary>The finding's place in a few words: the folded modules of its largest sites, and how many more there are.</summary>
    public static string Where(IReadOnlyList<FindingSite> sites)
    {
        const int Named = 3;
        var folded = sites.SelectMany(x => x.Where.Split(", ")).Select(ModulePath.FoldIndices).Distinct().ToList();
        string where = string.Join(", ", folded.Take(Named));
        return folded.Count > Named ? $"{where} +{folded.Count - Named} more" : where;
    }
}
