namespace Magneton.Core.Traces;

/// <summary>How a pair of operators was matched.</summary>
public enum StructureMatchKind : byte
{
    /// <summary>Same name at the same place of the parent's operator sequence (longest common subsequence).</summary>
    Sequence,
    /// <summary>Same name under matched parents, but reordered (paired in order of occurrence).</summary>
    Moved,
    /// <summary>Matched among the children of unmatched operators that sit between the same matched neighbours.</summary>
    Promoted,
}

/// <summary>
/// Matches the operator trees of one step of two traces by name and call-tree position, top-down: at each level the
/// two sequences of sibling operators are aligned by their longest common subsequence of names, and each aligned
/// pair is matched recursively on its children. Siblings left over are paired by name in order of occurrence
/// (reordered work), and the children of operators still left over between the same two aligned neighbours are
/// matched as one sequence (a renamed or added wrapper around the same work). What remains is unmatched.
/// </summary>
public sealed class StructureMatcher
{
    /// <summary>Largest DP table (cells) for one level's alignment after trimming the common prefix and suffix.</summary>
    private const long MaxCells = 4_000_000;

    private readonly TraceIndex _a, _b;
    private readonly int[] _nameA, _nameB;
    private readonly int[] _partnerA, _partnerB;
    private readonly List<(int A, int B, StructureMatchKind How)> _pairs = new();

    public StructureMatcher(TraceIndex a, TraceIndex b)
    {
        _a = a;
        _b = b;
        var shared = new Dictionary<string, int>(StringComparer.Ordinal);
        _nameA = a.Trace.Names.Select(n => Shared(shared, n)).ToArray();
        _nameB = b.Trace.Names.Select(n => Shared(shared, n)).ToArray();
        _partnerA = new int[a.Trace.Events.Length];
        _partnerB = new int[b.Trace.Events.Length];
        Array.Fill(_partnerA, -1);
        Array.Fill(_partnerB, -1);
    }

    private static int Shared(Dictionary<string, int> shared, string name)
    {
        if (!shared.TryGetValue(name, out int id)) shared[name] = id = shared.Count;
        return id;
    }

    public IReadOnlyList<(int A, int B, StructureMatchKind How)> Pairs => _pairs;

    /// <summary>The B node matched to A node <paramref name="a"/>, or -1.</summary>
    public int PartnerOfA(int a) => _partnerA[a];
    public int PartnerOfB(int b) => _partnerB[b];

    public void Match(int[] rootsA, int[] rootsB) => MatchLevel(rootsA, rootsB);

    private int NameA(int e) => _nameA[_a.Trace.Events[e].Name];
    private int NameB(int e) => _nameB[_b.Trace.Events[e].Name];

    private void Pair(int a, int b, StructureMatchKind how)
    {
        _partnerA[a] = b;
        _partnerB[b] = a;
        _pairs.Add((a, b, how));
    }

    private void MatchLevel(int[] a, int[] b)
    {
        if (a.Length == 0 || b.Length == 0) return;
        var anchors = Align(a, b);
        var usedA = new bool[a.Length];
        var usedB = new bool[b.Length];
        foreach (var (i, j) in anchors)
        {
            usedA[i] = usedB[j] = true;
            Pair(a[i], b[j], StructureMatchKind.Sequence);
        }
        foreach (var (i, j) in anchors) MatchLevel(_a.Children(a[i]).ToArray(), _b.Children(b[j]).ToArray());

        // Reordered siblings: the k-th leftover of a name in A with the k-th leftover of that name in B.
        var leftB = new Dictionary<int, Queue<int>>();
        for (int j = 0; j < b.Length; j++)
        {
            if (usedB[j]) continue;
            int name = NameB(b[j]);
            if (!leftB.TryGetValue(name, out var q)) leftB[name] = q = new Queue<int>();
            q.Enqueue(j);
        }
        var moved = new List<(int I, int J)>();
        for (int i = 0; i < a.Length && leftB.Count > 0; i++)
        {
            if (usedA[i] || !leftB.TryGetValue(NameA(a[i]), out var q) || q.Count == 0) continue;
            int j = q.Dequeue();
            usedA[i] = usedB[j] = true;
            Pair(a[i], b[j], StructureMatchKind.Moved);
            moved.Add((i, j));
        }
        foreach (var (i, j) in moved) MatchLevel(_a.Children(a[i]).ToArray(), _b.Children(b[j]).ToArray());

        // Wrappers: the children of what is still unmatched between the same two anchors, as one sequence per side.
        if (usedA.All(u => u) || usedB.All(u => u)) return;
        int hunks = anchors.Count + 1;
        var hunkA = Hunks(a.Length, anchors, first: true, usedA, hunks);
        var hunkB = Hunks(b.Length, anchors, first: false, usedB, hunks);
        for (int h = 0; h < hunks; h++)
        {
            if (hunkA[h] is not { Count: > 0 } la || hunkB[h] is not { Count: > 0 } lb) continue;
            var childrenA = la.SelectMany(i => _a.Children(a[i]).ToArray()).Where(c => _partnerA[c] < 0).ToArray();
            var childrenB = lb.SelectMany(j => _b.Children(b[j]).ToArray()).Where(c => _partnerB[c] < 0).ToArray();
            if (childrenA.Length == 0 || childrenB.Length == 0) continue;
            int before = _pairs.Count;
            MatchLevel(childrenA, childrenB);
            for (int k = before; k < _pairs.Count; k++)
                if (_pairs[k].How == StructureMatchKind.Sequence) _pairs[k] = _pairs[k] with { How = StructureMatchKind.Promoted };
        }
    }

    /// <summary>Leftover positions of one side grouped by the gap between aligned pairs they fall in.</summary>
    private static List<int>?[] Hunks(int length, List<(int I, int J)> anchors, bool first, bool[] used, int hunks)
    {
        var result = new List<int>?[hunks];
        int h = 0;
        for (int x = 0; x < length; x++)
        {
            while (h < anchors.Count && (first ? anchors[h].I : anchors[h].J) < x) h++;
            if (used[x]) continue;
            (result[h] ??= new List<int>()).Add(x);
        }
        return result;
    }

    /// <summary>Longest common subsequence of names; common prefix and suffix first, DP on what remains if small enough.</summary>
    private List<(int I, int J)> Align(int[] a, int[] b)
    {
        var result = new List<(int, int)>();
        int n = a.Length, m = b.Length, p = 0;
        while (p < n && p < m && NameA(a[p]) == NameB(b[p]))
        {
            result.Add((p, p));
            p++;
        }
        int s = 0;
        while (s < n - p && s < m - p && NameA(a[n - 1 - s]) == NameB(b[m - 1 - s])) s++;
        int rn = n - p - s, rm = m - p - s;
        if (rn > 0 && rm > 0 && (long)rn * rm <= MaxCells)
        {
            // L[i, j] = LCS length of a[p+i..p+rn) and b[p+j..p+rm); min(rn, rm) <= 2000 here, so it fits a ushort.
            int w = rm + 1;
            var table = new ushort[(rn + 1) * w];
            var na = new int[rn];
            var nb = new int[rm];
            for (int i = 0; i < rn; i++) na[i] = NameA(a[p + i]);
            for (int j = 0; j < rm; j++) nb[j] = NameB(b[p + j]);
            for (int i = rn - 1; i >= 0; i--)
            {
                int row = i * w, next = (i + 1) * w;
                for (int j = rm - 1; j >= 0; j--)
                {
                    table[row + j] = na[i] == nb[j]
                        ? (ushort)(table[next + j + 1] + 1)
                        : Math.Max(table[next + j], table[row + j + 1]);
                }
            }
            int x = 0, y = 0;
            while (x < rn && y < rm)
            {
                if (na[x] == nb[y])
                {
                    result.Add((p + x, p + y));
                    x++;
                    y++;
                }
                else if (table[(x + 1) * w + y] >= table[x * w + y + 1]) x++;
                else y++;
            }
        }
        for (int k = s; k > 0; k--) result.Add((n - k, m - k));
        return result;
    }
}
