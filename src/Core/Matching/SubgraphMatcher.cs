namespace Magneton.Core.Matching;

/// <summary>
/// Recursive subgraph matching on dominator paths (method §6.3.2, Algorithm 1), iterative:
/// <list type="number">
/// <item>Take each side's dominator path from the segment's start to its end.</item>
/// <item>Pair path operators with equivalent outputs, monotonically on both paths (the longest such
/// sequence): these are cut points, where <see cref="CutRules"/> allow (no module call or identity split on one
/// side only). Cuts never fall on the segment's end, so both sides of every piece
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

    /// <summary>Pieces at least this large (both sides together) are matched on another thread.</summary>
    const int ParallelPiece = 8192;

    /// <param name="ct">checked at every piece: a cancelled comparison stops matching within one piece's work</param>
    public static IReadOnlyList<RegionMatch> MatchSegment(MatchSession s, Segment top, CancellationToken ct = default) =>
        Match(s, top, 0, parallel: true, ct);

    /// <summary>The same regions, on this thread only (for tests of determinism).</summary>
    internal static IReadOnlyList<RegionMatch> MatchSegment(MatchSession s, Segment top, bool parallel) => Match(s, top, 0, parallel, default);

    /// <summary>
    /// The regions of a segment's subtree, in the order of a depth-first walk that takes a segment's pieces last
    /// first (a stack). Large pieces are matched as tasks whose regions are spliced in at the place the walk would
    /// have produced them, so the list is the same on one thread or many.
    /// </summary>
    static List<RegionMatch> Match(MatchSession s, Segment top, int topDepth, bool parallel, CancellationToken ct)
    {
        var regions = new List<RegionMatch>();
        var work = new Stack<(Segment? Seg, int Depth, Task<List<RegionMatch>>? Done)>();
        work.Push((top, topDepth, null));
        while (work.Count > 0)
        {
            ct.ThrowIfCancellationRequested();
            var (item, depth, done) = work.Pop();
            if (done is not null)
            {
                regions.AddRange(done.GetAwaiter().GetResult());
                continue;
            }
            var seg = item!;
            if (seg.NodesA.Length == 0 || seg.NodesB.Length == 0) continue;
            if (depth >= MaxDepth) { regions.Add(new RegionMatch(0, seg.NodesA, seg.NodesB, depth)); continue; }

            var pathA = GraphAlgorithms.DominatorPath(s.A, seg.StartA, seg.EndA, seg.NodesA);
            var pathB = GraphAlgorithms.DominatorPath(s.B, seg.StartB, seg.EndB, seg.NodesB);
            var cuts = Cuts(s, pathA, pathB);
            if (cuts.Count > 0)
            {
                foreach (var piece in Split(s, seg, cuts)) Push(work, piece, depth + 1, s, parallel, ct);
                continue;
            }
            var branches = Branches(s, seg);
            if (branches.Count == 0)
            {
                if (AncestorSplit(s, seg) is { } halves)
                {
                    foreach (var piece in halves) Push(work, piece, depth + 1, s, parallel, ct);
                    continue;
                }
                regions.Add(new RegionMatch(0, seg.NodesA, seg.NodesB, depth));
                continue;
            }
            var usedA = new HashSet<int>(branches.SelectMany(b => b.NodesA));
            var usedB = new HashSet<int>(branches.SelectMany(b => b.NodesB));
            foreach (var b in branches) Push(work, b, depth + 1, s, parallel, ct);
            regions.Add(new RegionMatch(0,
                seg.NodesA.Where(n => !usedA.Contains(n)).ToArray(),
                seg.NodesB.Where(n => !usedB.Contains(n)).ToArray(), depth));
        }
        return regions;
    }

    // Pieces being matched on other threads, all comparisons of the process together: at most one per core, so a
    // walk that waits for its piece waits for running work, never for a queued task behind blocked threads.
    static int _outstanding;

    static void Push(Stack<(Segment?, int, Task<List<RegionMatch>>?)> work, Segment piece, int depth, MatchSession s, bool parallel,
        CancellationToken ct)
    {
        if (parallel && piece.NodesA.Length + piece.NodesB.Length >= ParallelPiece && Environment.ProcessorCount > 1)
        {
            if (Interlocked.Increment(ref _outstanding) <= Environment.ProcessorCount)
            {
                work.Push((null, depth, Task.Run(() =>
                {
                    try
                    {
                        return Match(s, piece, depth, parallel: true, ct);
                    }
                    finally
                    {
                        Interlocked.Decrement(ref _outstanding);
                    }
                })));
                return;
            }
            Interlocked.Decrement(ref _outstanding);
        }
        work.Push((piece, depth, null));
    }

    /// <summary>The pieces between the segment's own dominator cuts, or the segment itself when it has none.</summary>
    public static IReadOnlyList<Segment> FirstLevel(MatchSession s, Segment seg)
    {
        if (seg.NodesA.Length == 0 || seg.NodesB.Length == 0) return [seg];
        var cuts = Cuts(s, GraphAlgorithms.DominatorPath(s.A, seg.StartA, seg.EndA, seg.NodesA),
            GraphAlgorithms.DominatorPath(s.B, seg.StartB, seg.EndB, seg.NodesB));
        return cuts.Count == 0 ? [seg] : Split(s, seg, cuts).ToList();
    }

    // Position of each B operator on the current path (or in the current segment): a mark array per thread.
    [ThreadStatic] static int[]? _posStamp;
    [ThreadStatic] static int[]? _pos;
    [ThreadStatic] static int _posGeneration;
    [ThreadStatic] static List<int>? _candidates;
    [ThreadStatic] static bool[]? _eqCells;
    [ThreadStatic] static int[]? _lenCells;

    /// <summary>Records <paramref name="items"/>[j] at position j (for j &lt; count); returns the generation to read with.</summary>
    static int MarkPositions(int n, int[] items, int count)
    {
        if (_posStamp is null || _posStamp.Length < n)
        {
            _posStamp = new int[Math.Max(n, 1024)];
            _pos = new int[_posStamp.Length];
            _posGeneration = 0;
        }
        if (++_posGeneration == int.MaxValue) { Array.Clear(_posStamp); _posGeneration = 1; }
        for (int j = 0; j < count; j++) { _posStamp[items[j]] = _posGeneration; _pos![items[j]] = j; }
        return _posGeneration;
    }

    static int PositionOf(int op, int generation) => _posStamp![op] == generation ? _pos![op] : -1;

    /// <summary>Monotone pairs of path operators with equivalent outputs, ends excluded.</summary>
    internal static List<(int A, int B)> Cuts(MatchSession s, int[] pathA, int[] pathB)
    {
        int n = pathA.Length - 1, m = pathB.Length - 1; // the last element is the segment's end
        var result = new List<(int, int)>();
        if (n <= 0 || m <= 0) return result;
        var candidates = _candidates ??= [];
        int gen = MarkPositions(s.B.Operators.Length, pathB, m);
        if ((long)n * m <= ExactCutBudget)
        {
            // Longest common subsequence under equivalence: robust where a greedy scan would latch onto an
            // early look-alike and skip the true partners. The equivalent cells come from each A operator's
            // partners, not from testing every cell.
            int cells = n * m, w = m + 1;
            if (_eqCells is null || _eqCells.Length < cells) _eqCells = new bool[Math.Max(cells, 4096)];
            if (_lenCells is null || _lenCells.Length < (n + 1) * w) _lenCells = new int[Math.Max((n + 1) * w, 4096)];
            var eq = _eqCells;
            var len = _lenCells;
            Array.Clear(eq, 0, cells);
            for (int i = 0; i < n; i++)
            {
                s.EquivalentInB(pathA[i], candidates);
                foreach (int y in candidates)
                    if (PositionOf(y, gen) is var j && j >= 0) eq[i * m + j] = true;
            }
            for (int j = 0; j <= m; j++) len[n * w + j] = 0;
            for (int i = n - 1; i >= 0; i--)
            {
                len[i * w + m] = 0;
                for (int j = m - 1; j >= 0; j--)
                    len[i * w + j] = eq[i * m + j] ? len[(i + 1) * w + j + 1] + 1 : Math.Max(len[(i + 1) * w + j], len[i * w + j + 1]);
            }
            for (int i = 0, j = 0; i < n && j < m;)
            {
                if (eq[i * m + j] && len[i * w + j] == len[(i + 1) * w + j + 1] + 1)
                { result.Add((pathA[i], pathB[j])); i++; j++; }
                else if (len[(i + 1) * w + j] >= len[i * w + j + 1]) i++;
                else j++;
            }
            return result;
        }
        // Greedy: each A operator takes the first equivalent B operator after the last one taken.
        int last = -1;
        for (int i = 0; i < n; i++)
        {
            s.EquivalentInB(pathA[i], candidates);
            int best = int.MaxValue;
            foreach (int y in candidates)
                if (PositionOf(y, gen) is var j && j > last && j < best) best = j;
            if (best == int.MaxValue) continue;
            result.Add((pathA[i], pathB[best]));
            last = best;
        }
        return result;
    }

    static IEnumerable<Segment> Split(MatchSession s, Segment seg, List<(int A, int B)> cuts)
    {
        int startA = seg.StartA, startB = seg.StartB;
        var bounds = cuts.Append((seg.EndA, seg.EndB)).ToList();
        var piecesA = GraphAlgorithms.ReachingWithinInTurn(s.A, seg.NodesA, bounds.Select(b => b.Item1).ToList());
        var piecesB = GraphAlgorithms.ReachingWithinInTurn(s.B, seg.NodesB, bounds.Select(b => b.Item2).ToList());
        var pieces = new List<Segment>(bounds.Count);
        for (int k = 0; k < bounds.Count; k++)
        {
            var (ea, eb) = bounds[k];
            pieces.Add(new Segment(seg.Id, startA, startB, ea, eb, piecesA[k], piecesB[k]));
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
        // The pairs to try: interior operators of A by distance from the middle of the segment, each with the
        // equivalent B operator of the segment (not its end) closest to the same relative place, the first in order
        // among equally close ones.
        var tries = new List<(int X, int Y)>(Candidates);
        var candidates = new List<int>();
        foreach (int i in MiddleOut(na - 1, na / 2))
        {
            if (tries.Count >= Candidates) break;
            int x = seg.NodesA[i];
            if (s.A.Operators[x].IsPureView) continue;
            double rel = (double)i / na;
            int y = -1, yj = -1;
            double bestDist = double.MaxValue;
            s.EquivalentInB(x, candidates);
            foreach (int c in candidates)
            {
                int j = Array.BinarySearch(seg.NodesB, c);
                if (j < 0 || j >= nb - 1) continue;
                double d = Math.Abs((double)j / nb - rel);
                if (d < bestDist || (d == bestDist && j < yj)) { bestDist = d; y = c; yj = j; }
            }
            if (y >= 0) tries.Add((x, y));
        }
        if (tries.Count == 0) return null;

        // What each x (each y) needs inside the segment, with the set marked once per side.
        var ancA = new int[tries.Count][];
        var ancB = new int[tries.Count][];
        var compA = new int[tries.Count];
        var compB = new int[tries.Count];
        int gen = GraphAlgorithms.MarkMembers(s.A, seg.NodesA);
        for (int k = 0; k < tries.Count; k++) ancA[k] = GraphAlgorithms.ReachingWithinMarked(s.A, gen, tries[k].X, out compA[k]);
        gen = GraphAlgorithms.MarkMembers(s.B, seg.NodesB);
        for (int k = 0; k < tries.Count; k++) ancB[k] = GraphAlgorithms.ReachingWithinMarked(s.B, gen, tries[k].Y, out compB[k]);
        int computingA = Computing(s.A, seg.NodesA), computingB = Computing(s.B, seg.NodesB);

        // Both halves must compute on both sides; the most balanced split wins (the first of equals). The rest of a
        // side is the segment less what the operator needs, so its size and whether it computes follow from counts.
        int best = -1, bestScore = 0;
        for (int k = 0; k < tries.Count; k++)
        {
            int restA = na - ancA[k].Length, restB = nb - ancB[k].Length;
            if (compA[k] == 0 || compB[k] == 0 || computingA - compA[k] == 0 || computingB - compB[k] == 0) continue;
            int score = Math.Min(Math.Min(ancA[k].Length, restA), Math.Min(ancB[k].Length, restB));
            if (score <= bestScore) continue;
            bestScore = score;
            best = k;
        }
        if (best < 0) return null;
        var (bx, by) = tries[best];
        return [new Segment(seg.Id, seg.StartA, seg.StartB, bx, by, ancA[best], ancB[best]),
                new Segment(seg.Id, bx, by, seg.EndA, seg.EndB, Rest(s.A, seg.NodesA, ancA[best]), Rest(s.B, seg.NodesB, ancB[best]))];
    }

    static int Computing(Runs.Run r, int[] nodes)
    {
        int c = 0;
        foreach (var n in nodes) if (!r.Operators[n].IsPureView) c++;
        return c;
    }

    /// <summary>The members of <paramref name="nodes"/> not in <paramref name="taken"/>, in order.</summary>
    static int[] Rest(Runs.Run r, int[] nodes, int[] taken)
    {
        int gen = GraphAlgorithms.MarkSecond(r, taken);
        var rest = new int[nodes.Length - taken.Length];
        int k = 0;
        foreach (var n in nodes) if (!GraphAlgorithms.IsMarkedSecond(n, gen)) rest[k++] = n;
        return k == rest.Length ? rest : rest[..k];
    }

    static bool Computes(Runs.Run r, int[] nodes) => nodes.Any(n => !r.Operators[n].IsPureView);

    /// <summary>0..count-1 by distance from <paramref name="middle"/>, the lower of two equally distant first: what a stable
    /// sort of the indices on |i - middle| gives, without sorting.</summary>
    static IEnumerable<int> MiddleOut(int count, int middle)
    {
        if (count <= 0) yield break;
        int maxDistance = Math.Max(middle, count - 1 - middle);
        for (int d = 0; d <= maxDistance; d++)
        {
            if (d == 0)
            {
                if (middle >= 0 && middle < count) yield return middle;
                continue;
            }
            if (middle - d >= 0 && middle - d < count) yield return middle - d;
            if (middle + d >= 0 && middle + d < count) yield return middle + d;
        }
    }

    /// <summary>Parallel branches between start and end, paired by equivalent exits.</summary>
    static List<Segment> Branches(MatchSession s, Segment seg)
    {
        var result = new List<Segment>();
        var compsA = Exits(s.A, seg.NodesA, seg.EndA);
        var compsB = Exits(s.B, seg.NodesB, seg.EndB);
        if (compsA.Count == 0 || compsB.Count == 0) return result;
        var usedB = new bool[compsB.Count];
        var compOfExit = new Dictionary<int, int>(compsB.Count);
        for (int j = compsB.Count - 1; j >= 0; j--) compOfExit[compsB[j].Exit] = j;
        var candidates = new List<int>();
        foreach (var (nodesA, exitA) in compsA)
        {
            // The first unused B component (in order) whose exit is equivalent to A's exit.
            s.EquivalentInB(exitA, candidates);
            int best = int.MaxValue;
            foreach (int y in candidates)
                if (compOfExit.TryGetValue(y, out int j) && !usedB[j] && j < best) best = j;
            if (best == int.MaxValue) continue;
            usedB[best] = true;
            result.Add(new Segment(seg.Id, seg.StartA, seg.StartB, exitA, compsB[best].Exit, nodesA, compsB[best].Nodes));
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
            int gen = GraphAlgorithms.MarkSecond(r, comp);
            int exit = -1;
            bool single = true;
            foreach (var n in comp)
            {
                bool leaves = false;
                foreach (var x in r.Operators[n].Successors)
                    if (!GraphAlgorithms.IsMarkedSecond(x, gen)) { leaves = true; break; }
                if (!leaves) continue;
                if (exit >= 0) { single = false; break; }
                exit = n;
            }
            if (single && exit >= 0) result.Add((comp, exit));
        }
        return result;
    }
}
