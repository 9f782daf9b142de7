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
    public static List<RegionMatch> Renumber(IEnumerable<RegionMatch> regions) =>
        regions.OrderBy(r => r.NodesA.Length > 0 ? r.NodesA[0] : int.MaxValue)
               .ThenBy(r => r.NodesB.Length > 0 ? r.NodesB[0] : int.MaxValue)
               .Select((r, i) => r with { Id = i + 1 }).ToList();
}
