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

    /// <summary>Operators (not excluded) from which <paramref name="sink"/> is reachable, sink included, ascending.</summary>
    public static int[] ReachingBackward(Run r, int sink, bool[] excluded, bool parameterEdges = false)
    {
        var seen = new bool[r.Operators.Length];
        var stack = new Stack<int>();
        stack.Push(sink);
        seen[sink] = true;
        var result = new List<int>();
        while (stack.Count > 0)
        {
            int v = stack.Pop();
            result.Add(v);
            foreach (var p in r.Operators[v].Predecessors)
                if (!seen[p] && !excluded[p]) { seen[p] = true; stack.Push(p); }
            if (!parameterEdges) continue;
            foreach (var p in r.Operators[v].ParameterPredecessors)
                if (!seen[p] && !excluded[p]) { seen[p] = true; stack.Push(p); }
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
    /// The dominator path from the segment's start to its end: the operators every path from start to end
    /// passes through, in order, start excluded and end included. Operators of the set whose inputs come only
    /// from outside it hang off the start (external inputs behave like parameters).
    /// </summary>
    public static int[] DominatorPath(Run r, int start, int end, int[] nodes)
    {
        // Local numbering: 0 = start (virtual or real), 1.. = nodes in topological order.
        var inSet = Marks(r.Operators.Length, out int gen);
        var local = new Dictionary<int, int>(nodes.Length);
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
        if (!local.TryGetValue(end, out var e)) return [];
        var path = new List<int>();
        for (int x = e; x != 0; x = idom[x]) path.Add(nodes[x - 1]);
        path.Reverse();
        return path.ToArray();
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
        var inSet = Marks(r.Operators.Length, out int gen);
        foreach (var n in nodes) inSet[n] = gen;
        var parent = new Dictionary<int, int>(nodes.Length);
        foreach (var n in nodes) parent[n] = n;
        int Find(int x)
        {
            while (parent[x] != x) { parent[x] = parent[parent[x]]; x = parent[x]; }
            return x;
        }
        foreach (var n in nodes)
            foreach (var p in r.Operators[n].Predecessors)
                if (inSet[p] == gen) { int a = Find(n), b = Find(p); if (a != b) parent[Math.Max(a, b)] = Math.Min(a, b); }
        return nodes.GroupBy(Find).Select(g => g.OrderBy(x => x).ToArray()).OrderBy(c => c[0]).ToList();
    }
}
