namespace Magneton.Core.Bundles;

/// <summary>
/// dataflow.json records one forward pass, so its operator graph (an edge from a value's producer to each node that
/// reads the value) has no cycle; matching and region assembly assume it and silently produce other findings when
/// one is there. Checked in linear time without recursion (Kahn's algorithm), so a million operators cost
/// milliseconds and no stack. A node reading its own output is an in-place update, not a cycle.
/// </summary>
public static class OperatorGraphCheck
{
    /// <summary>Throws the one-line refusal naming an edge of a cycle and the operators on it.</summary>
    public static void RequireAcyclic(Dataflow dataflow, string file = BundleFiles.Dataflow)
    {
        var nodes = dataflow.Nodes;
        var index = new Dictionary<int, int>(nodes.Count);
        for (int i = 0; i < nodes.Count; i++) index[nodes[i].Id] = i;

        // Each node's producers, as node indexes (an edge producer -> node), in one flat array.
        var producers = Producers(dataflow, index, out var start);
        var consumers = Reverse(producers, start, nodes.Count, out var consumerStart);

        var pending = new int[nodes.Count];
        var ready = new Stack<int>();
        for (int i = 0; i < nodes.Count; i++)
            if ((pending[i] = start[i + 1] - start[i]) == 0) ready.Push(i);
        int done = 0;
        while (ready.TryPop(out int n))
        {
            done++;
            for (int k = consumerStart[n]; k < consumerStart[n + 1]; k++)
                if (--pending[consumers[k]] == 0) ready.Push(consumers[k]);
        }
        if (done == nodes.Count) return;

        var cycle = FindCycle(pending, producers, start);
        // In flow order: cycle[0] feeds the last one found, each feeds the one found before it, cycle[1] feeds cycle[0].
        var flow = cycle.Take(1).Concat(cycle.Skip(1).Reverse()).Append(cycle[0]).Select(i => nodes[i].Id).ToList();
        throw new BundleException(file, $"nodes[{cycle[0]}].in",
            $"the operator graph has a cycle (node ids {Shown(flow)}, each reading a value of the one before): "
            + $"node {flow[0]} depends on its own output; a dataflow records one forward pass");
    }

    /// <summary>A long cycle by its ends: the line stays one readable line at a million operators.</summary>
    static string Shown(List<int> flow) => flow.Count <= 12
        ? string.Join(" -> ", flow)
        : $"{string.Join(" -> ", flow.Take(6))} -> ... ({flow.Count - 9} more) -> {string.Join(" -> ", flow.TakeLast(3))}";

    static int[] Producers(Dataflow dataflow, Dictionary<int, int> index, out int[] start)
    {
        var nodes = dataflow.Nodes;
        start = new int[nodes.Count + 1];
        var flat = new List<int>(nodes.Count * 2);
        for (int i = 0; i < nodes.Count; i++)
        {
            start[i] = flat.Count;
            foreach (int v in nodes[i].In)
                if (dataflow.Values.TryGetValue(v, out var value) && value.Producer is int p
                    && index.TryGetValue(p, out int pi) && pi != i)
                    flat.Add(pi);
        }
        start[nodes.Count] = flat.Count;
        return [.. flat];
    }

    static int[] Reverse(int[] producers, int[] start, int count, out int[] reverseStart)
    {
        reverseStart = new int[count + 1];
        foreach (int p in producers) reverseStart[p + 1]++;
        for (int i = 0; i < count; i++) reverseStart[i + 1] += reverseStart[i];
        var fill = reverseStart[..count];
        var reverse = new int[producers.Length];
        for (int i = 0; i < count; i++)
            for (int k = start[i]; k < start[i + 1]; k++)
                reverse[fill[producers[k]]++] = i;
        return reverse;
    }

    /// <summary>
    /// Nodes left with pending producers each have one that is also left, so walking from any of them along such
    /// producers must come back: the walk from the first repeat on is a cycle (node, its producer, ...).
    /// </summary>
    static List<int> FindCycle(int[] pending, int[] producers, int[] start)
    {
        int n = Array.FindIndex(pending, p => p > 0);
        var seen = new Dictionary<int, int>();
        var path = new List<int>();
        while (!seen.ContainsKey(n))
        {
            seen[n] = path.Count;
            path.Add(n);
            int next = -1;
            for (int k = start[n]; k < start[n + 1] && next < 0; k++)
                if (pending[producers[k]] > 0) next = producers[k];
            n = next;
        }
        return path.GetRange(seen[n], path.Count - seen[n]);
    }
}
