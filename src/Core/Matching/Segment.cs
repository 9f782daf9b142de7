namespace Magneton.Core.Matching;

/// <summary>
/// A pair of corresponding pieces of the two graphs still to be matched: everything between the start
/// cut (exclusive; -1 is the graph's virtual entry) and the end cut (inclusive), which have equivalent outputs.
/// Node lists hold operator indices. Plain data, so grains can ship it to workers.
/// </summary>
public sealed record Segment(int Id, int StartA, int StartB, int EndA, int EndB, int[] NodesA, int[] NodesB);

/// <summary>
/// A matched pair of regions: operators of A and of B that compute equivalent outputs from equivalent
/// inputs. Nodes are operator indices, ascending. Regions partition the matched part of each graph.
/// </summary>
public sealed record RegionMatch(int Id, int[] NodesA, int[] NodesB, int Depth)
{
    /// <summary>
    /// Completes the regions gathered from all segments: operators computing only from parameters join the
    /// region of their first consumer (they are part of what that region costs), then regions get ids in
    /// graph order. Call once, with every segment's regions.
    /// </summary>
    public static List<RegionMatch> Assemble(MatchSession s, IEnumerable<RegionMatch> regions)
    {
        var list = regions.ToList();
        var withA = Attach(s.A, list.Select(r => r.NodesA).ToList());
        var withB = Attach(s.B, list.Select(r => r.NodesB).ToList());
        return Renumber(list.Select((r, i) => r with { NodesA = withA[i], NodesB = withB[i] }));
    }

    static List<int[]> Attach(Runs.Run run, List<int[]> sides)
    {
        var regionOf = new int[run.Operators.Length];
        Array.Fill(regionOf, -1);
        for (int i = 0; i < sides.Count; i++) foreach (var n in sides[i]) regionOf[n] = i;
        var extra = new List<int>[sides.Count];
        // Consumers come later in execution order, so walking backwards sees a consumer's region first.
        for (int n = run.Operators.Length - 1; n >= 0; n--)
        {
            var op = run.Operators[n];
            if (!op.ParameterDerived || regionOf[n] >= 0) continue;
            foreach (var c in op.ParameterConsumers.Order())
            {
                if (regionOf[c] < 0) continue;
                regionOf[n] = regionOf[c];
                (extra[regionOf[c]] ??= []).Add(n);
                break;
            }
        }
        // Operators without outputs (a host-side check such as is_nonzero) end their branch: they join the
        // region of their latest producer.
        for (int n = 0; n < run.Operators.Length; n++)
        {
            var op = run.Operators[n];
            if (regionOf[n] >= 0 || op.Node.Out.Length > 0 || op.Predecessors.Length == 0) continue;
            int region = op.Predecessors.Select(p => regionOf[p]).Where(x => x >= 0).DefaultIfEmpty(-1).Max();
            if (region < 0) continue;
            regionOf[n] = region;
            (extra[region] ??= []).Add(n);
        }
        return sides.Select((nodes, i) => extra[i] is null ? nodes : nodes.Concat(extra[i]).Order().ToArray()).ToList();
    }

    public static List<RegionMatch> Renumber(IEnumerable<RegionMatch> regions) =>
        regions.OrderBy(r => r.NodesA.Length > 0 ? r.NodesA[0] : int.MaxValue)
               .ThenBy(r => r.NodesB.Length > 0 ? r.NodesB[0] : int.MaxValue)
               .Select((r, i) => r with { Id = i + 1 }).ToList();
}
