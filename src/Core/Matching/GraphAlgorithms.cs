using Magneton.Core.Runs;

namespace Magneton.Core.Matching;

/// <summary>
/// Graph algorithms over a run's operator graph, restricted to a node subset. Operator indices are a
/// topological order (execution order, edges by last writer always point forward), which makes dominators a
/// single forward pass and lets every traversal be an iterative sweep: no recursion, no stack depth limits.
/// </summary>
public static class GraphAlgorithms
{
    // Membership marks without clearing: a generation counter per thread, so concurrent workers never share it.
    [ThreadStatic] static int[]? _mark;
    [ThreadStatic] static int _generation;

    static int[] Marks(int n, out int gen)
    {
        if (_mark is null || _mark.Length < n) { _mark = new int[Math.Max(n, 1024)]; _generation = 0; }
        if (++_generation == int.MaxValue) { Array.Clear(_mark); _generation = 1; }
        gen = _generation;
        return _mark;
    }

    // A second mark array for the traversals that need two sets at once (members and visited), same scheme.
    [ThreadStatic] static int[]? _mark2;
    [ThreadStatic] static int _generation2;

    static int[] Marks2(int n, out int gen)
    {
        if (_mark2 is null || _mark2.Length < n) { _mark2 = new int[Math.Max(n, 1024)]; _generation2 = 0; }
        if (++_generation2 == int.MaxValue) { Array.Clear(_mark2); _generation2 = 1; }
        gen = _generation2;
        return _mark2;
    }

    /// <summary>Operators (not excluded) from which <paramref name="sink"/> is reachable, sink included, ascending.</summary>
    public static int[] ReachingBackward(Run r, int sink, bool[] excluded, bool parameterEdges = false)
    {
        var seen = Marks(r.Operators.Length, out int gen);
        var stack = new Stack<int>();
        stack.Push(sink);
        seen[sink] = gen;
        var result = new List<int>();
        while (stack.Count > 0)
        {
            int v = stack.Pop();
            result.Add(v);
            foreach (var p in r.Operators[v].Predecessors)
                if (seen[p] != gen && !excluded[p]) { seen[p] = gen; stack.Push(p); }
            if (!parameterEdges) continue;
            foreach (var p in r.Operators[v].ParameterPredecessors)
                if (seen[p] != gen && !excluded[p]) { seen[p] = gen; stack.Push(p); }
        }
        result.Sort();
        return result.ToArray();
    }

    /// <summary>
    /// Members of <paramref name="nodes"/> (ascending) from which <paramref name="target"/> is reachable inside
    /// the set, the target included, and not yet claimed.
    /// </summary>
    public static int[] ReachingWithin(Run r, int[] nodes, int target, HashSet<int> claimed)
    {
        var inSet = Marks(r.Operators.Length, out int gen);
        foreach (var n in nodes) inSet[n] = gen;
        var result = new List<int>();
        var visited = new HashSet<int> { target };
        var stack = new Stack<int>();
        stack.Push(target);
        while (stack.Count > 0)
        {
            int v = stack.Pop();
            if (claimed.Contains(v)) continue;
            result.Add(v);
            foreach (var p in r.Operators[v].Predecessors)
                if (inSet[p] == gen && visited.Add(p)) stack.Push(p);
        }
        result.Sort();
        return result.ToArray();
    }

    /// <summary>
    /// <see cref="ReachingWithin"/> for each target in turn, each claiming what it reached: the same pieces as calling
    /// it once per target with the union of the earlier pieces as claimed, but the set is marked once, so the cost is
    /// that of the pieces, not of the set times the number of targets.
    /// </summary>
    public static List<int[]> ReachingWithinInTurn(Run r, int[] nodes, IReadOnlyList<int> targets)
    {
        int n = r.Operators.Length;
        // Marks: gen = member, unclaimed; gen + 1 = member, claimed. Generations advance by two here.
        var state = Marks(n, out int gen);
        if (gen >= int.MaxValue - 2) { Array.Clear(state); _generation = gen = 1; }
        _generation++;
        int claimedMark = gen + 1;
        foreach (var x in nodes) state[x] = gen;
        var visited = Marks2(n, out int vgen);
        var pieces = new List<int[]>(targets.Count);
        var stack = new Stack<int>();
        var result = new List<int>();
        foreach (int target in targets)
        {
            if (pieces.Count > 0) { visited = Marks2(n, out vgen); }
            result.Clear();
            visited[target] = vgen;
            stack.Push(target);
            while (stack.Count > 0)
            {
                int v = stack.Pop();
                if (state[v] == claimedMark) continue;
                result.Add(v);
                foreach (var p in r.Operators[v].Predecessors)
                    if ((state[p] == gen || state[p] == claimedMark) && visited[p] != vgen) { visited[p] = vgen; stack.Push(p); }
            }
            result.Sort();
            var piece = result.ToArray();
            // Claimed marks are set after the search, as the union is taken after each call. (A claimed non-member can
            // then be pushed as a predecessor, but it is skipped unexpanded, as it would have been unreached.)
            foreach (var v in piece) state[v] = claimedMark;
            pieces.Add(piece);
        }
        return pieces;
    }

    /// <summary>
    /// The dominator path from the segment's start to its end: the operators every path from start to end
    /// passes through, in order, start excluded and end included. Operators of the set whose inputs come only
    /// from outside it hang off the start (external inputs behave like parameters).
    /// </summary>
    public static int[] DominatorPath(Run r, int start, int end, int[] nodes)
    {
        // Local numbering: 0 = start (virtual or real), 1.. = nodes in topological order.
        var inSet = Marks(r.Operators.Length, out int gen);
        var local = Locals(r.Operators.Length);
        for (int i = 0; i < nodes.Length; i++) { inSet[nodes[i]] = gen; local[nodes[i]] = i + 1; }
        var idom = new int[nodes.Length + 1];
        idom[0] = 0;
        for (int i = 0; i < nodes.Length; i++)
        {
            int me = i + 1, d = -1;
            foreach (var p in r.Operators[nodes[i]].Predecessors)
            {
                int lp = inSet[p] == gen ? local[p] : 0; // outside the set: reached from the start
                d = d < 0 ? lp : Intersect(idom, d, lp);
            }
            idom[me] = d < 0 ? 0 : d;
        }
        if ((uint)end >= (uint)inSet.Length || inSet[end] != gen) return [];
        int e = local[end];
        var path = new List<int>();
        for (int x = e; x != 0; x = idom[x]) path.Add(nodes[x - 1]);
        path.Reverse();
        return path.ToArray();
    }

    // Local numbers of the current set's members (valid where the member mark is current).
    [ThreadStatic] static int[]? _local;

    static int[] Locals(int n)
    {
        if (_local is null || _local.Length < n) _local = new int[Math.Max(n, 1024)];
        return _local;
    }

    /// <summary>Marks <paramref name="nodes"/> as the current set; read with <see cref="IsMember"/> until the next marking.</summary>
    internal static int MarkMembers(Run r, int[] nodes)
    {
        var marks = Marks(r.Operators.Length, out int gen);
        foreach (var n in nodes) marks[n] = gen;
        return gen;
    }

    internal static bool IsMember(int node, int gen) => _mark![node] == gen;

    /// <summary>Marks a set in the second mark array (for a test inside another traversal's set).</summary>
    internal static int MarkSecond(Run r, IEnumerable<int> nodes)
    {
        var marks = Marks2(r.Operators.Length, out int gen);
        foreach (var n in nodes) marks[n] = gen;
        return gen;
    }

    internal static bool IsMarkedSecond(int node, int gen) => _mark2![node] == gen;

    /// <summary>
    /// <see cref="ReachingWithin"/> with nothing claimed, inside the set marked by <see cref="MarkMembers"/>; also counts the
    /// operators of the result that compute (are not pure views).
    /// </summary>
    internal static int[] ReachingWithinMarked(Run r, int gen, int target, out int computing)
    {
        var inSet = _mark!;
        var visited = Marks2(r.Operators.Length, out int vgen);
        var result = new List<int>();
        var stack = new Stack<int>();
        visited[target] = vgen;
        stack.Push(target);
        computing = 0;
        while (stack.Count > 0)
        {
            int v = stack.Pop();
            result.Add(v);
            if (!r.Operators[v].IsPureView) computing++;
            foreach (var p in r.Operators[v].Predecessors)
                if (inSet[p] == gen && visited[p] != vgen) { visited[p] = vgen; stack.Push(p); }
        }
        result.Sort();
        return result.ToArray();
    }

    // Cooper-Harvey-Kennedy intersection; local numbers are a topological order, so a dominator always has
    // a smaller number than the nodes it dominates.
    static int Intersect(int[] idom, int a, int b)
    {
        while (a != b)
        {
            while (a > b) a = idom[a];
            while (b > a) b = idom[b];
        }
        return a;
    }

    /// <summary>Weakly connected components of the subgraph induced by <paramref name="nodes"/>, each ascending.</summary>
    public static List<int[]> Components(Run r, int[] nodes)
    {
        // Union-find over local numbers; components come out ordered by their smallest member, each ascending.
        var inSet = Marks(r.Operators.Length, out int gen);
        var local = Locals(r.Operators.Length);
        for (int i = 0; i < nodes.Length; i++) { inSet[nodes[i]] = gen; local[nodes[i]] = i; }
        var parent = new int[nodes.Length];
        for (int i = 0; i < parent.Length; i++) parent[i] = i;
        int Find(int x)
        {
            while (parent[x] != x) { parent[x] = parent[parent[x]]; x = parent[x]; }
            return x;
        }
        bool ascending = true;
        for (int i = 1; i < nodes.Length; i++) if (nodes[i] <= nodes[i - 1]) { ascending = false; break; }
        for (int i = 0; i < nodes.Length; i++)
            foreach (var p in r.Operators[nodes[i]].Predecessors)
                if (inSet[p] == gen)
                {
                    int a = Find(i), b = Find(local[p]);
                    if (a != b) parent[Math.Max(a, b)] = Math.Min(a, b);
                }
        if (!ascending)
            return nodes.Select((n, i) => (n, i)).GroupBy(x => Find(x.i)).Select(g => g.Select(x => x.n).OrderBy(x => x).ToArray())
                .OrderBy(c => c[0]).ToList();
        var groupOf = new int[nodes.Length];
        var groups = new List<List<int>>();
        for (int i = 0; i < nodes.Length; i++)
        {
            int root = Find(i);
            // The root is the smallest local number of the component, met first in ascending order.
            if (root == i) { groupOf[i] = groups.Count; groups.Add([]); }
            groups[groupOf[root]].Add(nodes[i]);
        }
        var result = new List<int[]>(groups.Count);
        foreach (var g in groups) result.Add(g.ToArray());
        return result;
    }
}
