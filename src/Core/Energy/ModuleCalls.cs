using Magneton.Core.Runs;

namespace Magneton.Core.Energy;

/// <summary>The calls of a module in execution order, and those that did the same work as a given one.</summary>
public static class ModuleCalls
{
    /// <summary>
    /// Calls of modules at the depth of <paramref name="module"/> whose path folds to the same name (transformer.h.*.mlp):
    /// maximal runs of consecutive operators inside one such module, each with the module path it ran in.
    /// </summary>
    public static List<(string Module, int[] Operators)> Like(Run run, string module)
    {
        int depth = module.Count(c => c == '.') + 1;
        string folded = ModulePath.FoldIndices(module);
        var prefixOf = new Dictionary<string, string?>(StringComparer.Ordinal);
        var calls = new List<(string, int[])>();
        string? current = null;
        var ops = new List<int>();
        foreach (var op in run.Operators)
        {
            if (!prefixOf.TryGetValue(op.Module, out var p))
                prefixOf[op.Module] = p = Prefix(op.Module, depth) is { } x && ModulePath.FoldIndices(x) == folded ? x : null;
            if (p != current)
            {
                if (current is not null) calls.Add((current, ops.ToArray()));
                ops.Clear();
                current = p;
            }
            if (p is not null) ops.Add(op.Index);
        }
        if (current is not null) calls.Add((current, ops.ToArray()));
        return calls;
    }

    /// <summary>The first call of <paramref name="module"/> (the one a module replay records) and its signature twins.</summary>
    public static List<(string Module, int[] Operators)> ReplayedAndTwins(Run run, string module, string[] signatures)
    {
        var calls = Like(run, module);
        int first = calls.FindIndex(c => c.Module == module);
        if (first < 0) return [];
        var key = Key(run, calls[first].Operators, signatures);
        var result = new List<(string, int[])> { calls[first] };
        for (int i = 0; i < calls.Count; i++)
            if (i != first && calls[i].Operators.Length == calls[first].Operators.Length && Key(run, calls[i].Operators, signatures).SequenceEqual(key))
                result.Add(calls[i]);
        return result;
    }

    static List<string> Key(Run run, int[] ops, string[] signatures) =>
        ops.Where(i => !run.Operators[i].IsPureView).Select(i => signatures[i]).ToList();

    static string? Prefix(string module, int depth)
    {
        if (module.Length == 0) return null;
        int at = -1;
        for (int d = 0; d < depth; d++)
        {
            at = module.IndexOf('.', at + 1);
            if (at < 0) return d == depth - 1 ? module : null;
        }
        return module[..at];
    }
}
