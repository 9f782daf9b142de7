namespace Magneton.Core.Matching;

/// <summary>
/// Recursive subgraph matching on dominator paths (method §6.3.2, Algorithm 1), iterative:
/// <list type="number">
/// <item>Take each side's dominator path from the segment's start to its end.</item>
/// <item>Pair path operators with equivalent outputs, monotonically on both paths (the longest such
/// sequence): these are cut points. Cuts never fall on the segment's end, so both sides of every piece
/// keep at least one operator: a piece that is empty on one side is no comparison.</item>
/// <item>With cuts, split the segment between consecutive cuts and continue on each piece.</item>
/// <item>Without cuts, look inside: parallel branches hanging between start and end (the attention or MLP
/// branch beside a residual connection) whose single exits are equivalent are matched as their own segments;
/// the rest (the end and unmatched branches) is a region. If nothing splits, the whole segment is a region.</item>
/// </list>
/// </summary>
public static class SubgraphMatcher
{
    /// <summary>Cut search uses the exact longest monotone pairing up to this many cell checks, else greedy.</summary>
    const long ExactCutBudget = 400_000;
    const int MaxDepth = 200;

    public static IReadOnlyList<RegionMatch> MatchSegment(MatchSession s, Segment top)
    {
        var regions = new List<RegionMatch>();
        var work = new Stack<(Segment Seg, int Depth)>();
        work.Push((top, 0));
        while (work.Count > 0)
        {
            var (seg, depth) = work.Pop();
            if (seg.NodesA.Length == 0 || seg.NodesB.Length == 0) continue;
            if (depth >= MaxDepth) { regions.Add(new RegionMatch(0, seg.NodesA, seg.NodesB, depth)); continue; }

            var pathA = GraphAlgorithms.DominatorPath(s.A, seg.StartA, seg.EndA, seg.NodesA);
            var pathB = GraphAlgorithms.DominatorPath(s.B, seg.StartB, seg.EndB, seg.NodesB);
            var cuts = Cuts(s, pathA, pathB);
            if (cuts.Count > 0)
            {
                foreach (var piece in Split(s, seg, cuts)) work.Push((piece, depth + 1));
                continue;
            }
            var branches = Branches(s, seg);
            if (branches.Count == 0)
            {
                if (AncestorSplit(s, seg) is { } halves)
                {
                    foreach (var piece in halves) work.Push((piece, depth + 1));
                    continue;
                }
                regions.Add(new RegionMatch(0, seg.NodesA, seg.NodesB, depth));
                continue;
            }
            var usedA = new HashSet<int>(branches.SelectMany(b => b.NodesA));
            var usedB = new HashSet<int>(branches.SelectMany(b => b.NodesB));
            foreach (var b in branches) work.Push((b, depth + 1));
            regions.Add(new RegionMatch(0,
                seg.NodesA.Where(n => !usedA.Contains(n)).ToArray(),
                seg.NodesB.Where(n => !usedB.Contains(n)).ToArray(), depth));
        }
        return regions;
    }

    /// <summary>The pieces between the segment's own dominator cuts, or the segment itself when it has none.</summary>
    public static IReadOnlyList<Segment> FirstLevel(MatchSession s, Segment seg)
    {
        if (seg.NodesA.Length == 0 || seg.NodesB.Length == 0) return [seg];
        var cuts = Cuts(s, GraphAlgorithms.DominatorPath(s.A, seg.StartA, seg.EndA, seg.NodesA),
            GraphAlgorithms.DominatorPath(s.B, seg.StartB, seg.EndB, seg.NodesB));
        return cuts.Count == 0 ? [seg] : Split(s, seg, cuts).ToList();
    }

    /// <summary>Monotone pairs of path operators with equivalent outputs, ends excluded.</summary>
    internal static List<(int A, int B)> Cuts(MatchSession s, int[] pathA, int[] pathB)
    {
        int n = pathA.Length - 1, m = pathB.Length - 1; // the last element is the segment's end
        var result = new List<(int, int)>();
        if (n <= 0 || m <= 0) return result;
        if ((long)n * m <= ExactCutBudget)
        {
            // Longest common subsequence under equivalence: robust where a greedy scan would latch onto an
            // early look-alike and skip the true partners.
            var eq = new bool[n, m];
            for (int i = 0; i < n; i++)
                for (int j = 0; j < m; j++)
                    eq[i, j] = s.OperatorsEquivalent(pathA[i], pathB[j]);
            var len = new int[n + 1, m + 1];
            for (int i = n - 1; i >= 0; i--)
                for (int j = m - 1; j >= 0; j--)
                    len[i, j] = eq[i, j] ? len[i + 1, j + 1] + 1 : Math.Max(len[i + 1, j], len[i, j + 1]);
            for (int i = 0, j = 0; i < n && j < m;)
            {
                if (eq[i, j] && len[i, j] == len[i + 1, j + 1] + 1)
                { result.Add((pathA[i], pathB[j])); i++; j++; }
                else if (len[i + 1, j] >= len[i, j + 1]) i++;
                else j++;
            }
            return result;
        }
        int last = -1;
        for (int i = 0; i < n; i++)
            for (int j = last + 1; j < m; j++)
                if (s.OperatorsEquivalent(pathA[i], pathB[j])) { result.Add((pathA[i], pathB[j])); last = j; break; }
        return result;
    }

    static IEnumerable<Segment> Split(MatchSession s, Segment seg, List<(int A, int B)> cuts)
    {
        var claimedA = new HashSet<int>();
        var claimedB = new HashSet<int>();
        int startA = seg.StartA, startB = seg.StartB;
        var bounds = cuts.Append((seg.EndA, seg.EndB)).ToList();
        var pieces = new List<Segment>();
        foreach (var (ea, eb) in bounds)
        {
            var na = GraphAlgorithms.ReachingWithin(s.A, seg.NodesA, ea, claimedA);
            var nb = GraphAlgorithms.ReachingWithin(s.B, seg.NodesB, eb, claimedB);
            claimedA.UnionWith(na);
            claimedB.UnionWith(nb);
            pieces.Add(new Segment(seg.Id, startA, startB, ea, eb, na, nb));
            startA = ea;
            startB = eb;
        }
        // Operators of the segment that reach no cut nor the end cannot exist (all reach the end by
        // construction), so the pieces partition the segment.
        return MergeIdlePieces(s, pieces);
    }

    /// <summary>
    /// A piece in which one side only reinterprets memory (pure views) compares work with no work: merge it
    /// into the next piece (the last into the previous one). Look-alike values (a norm with unit weight and
    /// zero bias equals its input) would otherwise cut a region down to nothing on one side.
    /// </summary>
    static List<Segment> MergeIdlePieces(MatchSession s, List<Segment> pieces)
    {
        bool Idle(Runs.Run r, int[] nodes) => nodes.All(n => r.Operators[n].IsPureView);
        var result = new List<Segment>();
        Segment? carry = null;
        foreach (var p in pieces)
        {
            var cur = carry is null ? p : p with
            {
                StartA = carry.StartA, StartB = carry.StartB,
                NodesA = carry.NodesA.Concat(p.NodesA).Order().ToArray(),
                NodesB = carry.NodesB.Concat(p.NodesB).Order().ToArray(),
            };
            carry = null;
            if (Idle(s.A, cur.NodesA) != Idle(s.B, cur.NodesB)) carry = cur; else result.Add(cur);
        }
        if (carry is not null)
        {
            if (result.Count == 0) result.Add(carry);
            else
            {
                var last = result[^1];
                result[^1] = last with
                {
                    EndA = carry.EndA, EndB = carry.EndB,
                    NodesA = last.NodesA.Concat(carry.NodesA).Order().ToArray(),
                    NodesB = last.NodesB.Concat(carry.NodesB).Order().ToArray(),
                };
            }
        }
        return result;
    }

    /// <summary>
    /// For segments whose dominator path has no inner cut because state bypasses it (a KV cache written in one
    /// decode step and read in every later one): split at an equivalent pair of interior operators near the
    /// middle into "everything that operator needs" and "the rest". Both halves compute equivalent values from
    /// equivalent inputs, so they are valid pieces; the rest reads the first half's values as external inputs.
    /// </summary>
    static Segment[]? AncestorSplit(MatchSession s, Segment seg)
    {
        const int MinSize = 12, Candidates = 6;
        int na = seg.NodesA.Length, nb = seg.NodesB.Length;
        if (na < MinSize || nb < MinSize) return null;
        var none = new HashSet<int>();
        Segment[]? best = null;
        int bestScore = 0, tried = 0;
        // Interior operators of A ordered by distance from the middle of the segment.
        var order = Enumerable.Range(0, na - 1).OrderBy(i => Math.Abs(i - na / 2));
        foreach (int i in order)
        {
            if (tried >= Candidates) break;
            int x = seg.NodesA[i];
            if (s.A.Operators[x].IsPureView) continue;
            double rel = (double)i / na;
            int y = -1;
            double bestDist = double.MaxValue;
            for (int j = 0; j < nb - 1; j++)
            {
                double d = Math.Abs((double)j / nb - rel);
                if (d < bestDist && s.OperatorsEquivalent(x, seg.NodesB[j])) { bestDist = d; y = seg.NodesB[j]; }
            }
            if (y < 0) continue;
            tried++;
            var ancA = GraphAlgorithms.ReachingWithin(s.A, seg.NodesA, x, none);
            var ancB = GraphAlgorithms.ReachingWithin(s.B, seg.NodesB, y, none);
            var restA = seg.NodesA.Except(ancA).ToArray();
            var restB = seg.NodesB.Except(ancB).ToArray();
            if (!Computes(s.A, ancA) || !Computes(s.B, ancB) || !Computes(s.A, restA) || !Computes(s.B, restB)) continue;
            int score = Math.Min(Math.Min(ancA.Length, restA.Length), Math.Min(ancB.Length, restB.Length));
            if (score <= bestScore) continue;
            bestScore = score;
            best = [new Segment(seg.Id, seg.StartA, seg.StartB, x, y, ancA, ancB),
                    new Segment(seg.Id, x, y, seg.EndA, seg.EndB, restA, restB)];
        }
        return best;
    }

    static bool Computes(Runs.Run r, int[] nodes) => nodes.Any(n => !r.Operators[n].IsPureView);

    /// <summary>Parallel branches between start and end, paired by equivalent exits.</summary>
    static List<Segment> Branches(MatchSession s, Segment seg)
    {
        var result = new List<Segment>();
        var compsA = Exits(s.A, seg.NodesA, seg.EndA);
        var compsB = Exits(s.B, seg.NodesB, seg.EndB);
        if (compsA.Count == 0 || compsB.Count == 0) return result;
        var usedB = new bool[compsB.Count];
        foreach (var (nodesA, exitA) in compsA)
        {
            for (int j = 0; j < compsB.Count; j++)
            {
                if (usedB[j] || !s.OperatorsEquivalent(exitA, compsB[j].Exit)) continue;
                usedB[j] = true;
                result.Add(new Segment(seg.Id, seg.StartA, seg.StartB, exitA, compsB[j].Exit, nodesA, compsB[j].Nodes));
                break;
            }
        }
        return result;
    }

    /// <summary>Components of the segment without its end that leave through exactly one operator.</summary>
    static List<(int[] Nodes, int Exit)> Exits(Runs.Run r, int[] nodes, int end)
    {
        var interior = nodes.Where(n => n != end).ToArray();
        var result = new List<(int[], int)>();
        if (interior.Length == 0) return result;
        foreach (var comp in GraphAlgorithms.Components(r, interior))
        {
            var members = new HashSet<int>(comp);
            int exit = -1;
            bool single = true;
            foreach (var n in comp)
            {
                if (!r.Operators[n].Successors.Any(x => !members.Contains(x))) continue;
                if (exit >= 0) { single = false; break; }
                exit = n;
            }
            if (single && exit >= 0) result.Add((comp, exit));
        }
        return result;
    }
}
