using Magneton.Core.Matching;
using Magneton.Core.Runs;

namespace Magneton.Core.Detection;

/// <summary>
/// Why one site's regions differ: the cause kind (layout, redundant, operator-set, kernel-choice, config, unknown)
/// and the key that sites of the same cause share (what differs and the module class), which makes them one finding.
/// </summary>
public sealed record RegionCause(CauseKind Kind, string Key);

/// <summary>
/// What differs between the two sides of a site's regions, most specific first: memory layout (strides,
/// transposition kernels), redundant copies, different operators, the same operators dispatching different kernels,
/// configuration. Detection groups sites by it; Diagnosis explains a finding with the same reading.
/// </summary>
public static class CauseClassifier
{
    static readonly string[] TransposeMarkers = ["nchwToNhwc", "nhwcToNchw", "transpose", "permute", "Transpose"];
    internal static readonly HashSet<string> CopyOps =
        ["aten.contiguous.default", "aten.clone.default", "aten.copy_.default", "aten._to_copy.default", "aten.to.dtype", "aten.to.dtype_layout"];

    /// <summary>
    /// The cause of one site (region pairs of one pattern, wasteful side given): its kind, and the key under which
    /// sites of the same cause are one finding. Layout is a property of the job's tensors (one configuration), so
    /// every layout site is one cause; otherwise the cause is the kind with what differs (the operators only one side
    /// runs, the copies) and the module class the sites belong to (one class, one place to fix).
    /// </summary>
    public static RegionCause Classify(MatchSession s, IReadOnlyList<RegionMatch> rs, bool aWastes)
    {
        var opsA = Computing(s.A, rs[0].NodesA);
        var opsB = Computing(s.B, rs[0].NodesB);
        var (wasteOps, effOps) = aWastes ? (opsA, opsB) : (opsB, opsA);
        var wasteRun = aWastes ? s.A : s.B;
        string classes = string.Join(",", Classes(wasteRun, wasteOps).Order(StringComparer.Ordinal));
        var (onlyWaste, onlyEff) = OperatorDifference(wasteOps, effOps);
        CauseKind kind;
        bool cpu = s.A.IsCpuCapture || s.B.IsCpuCapture;
        if (HasLayoutDifference(s, rs, aWastes)) return new RegionCause(CauseKind.Layout, "layout");
        if (IsRedundant(wasteOps, effOps)) kind = CauseKind.Redundant;
        // Extra operators that launch no GPU work (bookkeeping, eval-mode dropout) make no other combination of work:
        // the kernels then decide.
        else if (!Working(wasteOps, cpu).SequenceEqual(Working(effOps, cpu))) kind = CauseKind.OperatorSet;
        else if (!Kernels(opsA).SequenceEqual(Kernels(opsB))) kind = CauseKind.KernelChoice;
        else kind = ConfigDiff(s.A, s.B).Count > 0 ? CauseKind.Config : CauseKind.Unknown;
        string what = kind is CauseKind.Redundant or CauseKind.OperatorSet
            ? string.Join(",", onlyWaste.Order(StringComparer.Ordinal)) + "=>" + string.Join(",", onlyEff.Order(StringComparer.Ordinal))
            : "";
        return new RegionCause(kind, $"{kind.Json()}|{what}|{classes}");
    }

    /// <summary>The operators (by name, with multiplicity) that only one side runs: what the two combinations differ in.</summary>
    internal static (List<string> OnlyFirst, List<string> OnlySecond) OperatorDifference(IEnumerable<Operator> first, IEnumerable<Operator> second)
    {
        var onlyFirst = first.Select(o => o.Op).ToList();
        var onlySecond = new List<string>();
        foreach (var op in second.Select(o => o.Op))
            if (!onlyFirst.Remove(op)) onlySecond.Add(op);
        return (onlyFirst, onlySecond);
    }

    /// <summary>Operators that did work: GPU work in a GPU capture; in a CPU capture no operator launches GPU work, so all.</summary>
    static IEnumerable<string> Working(List<Operator> ops, bool cpu) =>
        ops.Where(o => cpu || o.GpuSeconds > 0 || o.Kernels.Count > 0).Select(o => o.Op);

    internal static List<Operator> Computing(Run r, int[] nodes) =>
        nodes.Select(i => r.Operators[i]).Where(o => !o.IsPureView).ToList();

    // Kernels proper: memsets and copies that a GEMM launches around itself are not a choice anyone makes.
    internal static IEnumerable<string> Kernels(IEnumerable<Operator> ops) =>
        ops.SelectMany(o => o.Kernels.Where(k => k.Category == "kernel").Select(k => k.Name));

    /// <summary>Same shapes, other strides on the region's values, or transposition kernels on one side only.</summary>
    static bool HasLayoutDifference(MatchSession s, IReadOnlyList<RegionMatch> rs, bool aWastes)
    {
        foreach (var r in rs)
        {
            var ka = Kernels(Computing(s.A, r.NodesA)).ToList();
            var kb = Kernels(Computing(s.B, r.NodesB)).ToList();
            var (kw, ke) = aWastes ? (ka, kb) : (kb, ka);
            if (kw.Count(IsTranspose) > ke.Count(IsTranspose)) return true;
        }
        var a = Computing(s.A, rs[0].NodesA);
        var b = Computing(s.B, rs[0].NodesB);
        if (a.Count != b.Count) return false;
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i].Op != b[i].Op) return false;
            var va = a[i].Node.In.Concat(a[i].Node.Out).Select(v => s.A.Values[v]).ToList();
            var vb = b[i].Node.In.Concat(b[i].Node.Out).Select(v => s.B.Values[v]).ToList();
            if (va.Count != vb.Count) return false;
            for (int j = 0; j < va.Count; j++)
                if (va[j].Shape.AsSpan().SequenceEqual(vb[j].Shape) && !va[j].Stride.AsSpan().SequenceEqual(vb[j].Stride))
                    return true;
        }
        return false;
    }

    static bool IsTranspose(string kernel) => TransposeMarkers.Any(m => kernel.Contains(m, StringComparison.Ordinal));

    /// <summary>The wasteful side does what the efficient side does plus copies that produce what they consume.</summary>
    static bool IsRedundant(List<Operator> waste, List<Operator> eff)
    {
        var extra = waste.Select(o => o.Op).ToList();
        foreach (var op in eff.Select(o => o.Op))
            if (!extra.Remove(op)) return false;
        return extra.Count > 0 && extra.All(CopyOps.Contains);
    }

    /// <summary>Configuration keys whose values differ between the runs, bundle config first, deduplicated by key.</summary>
    internal static List<ConfigDifference> ConfigDiff(Run a, Run b)
    {
        var ka = Keys(a);
        var kb = Keys(b);
        var result = new List<ConfigDifference>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in ka.Keys.Union(kb.Keys))
        {
            ka.TryGetValue(key, out var va);
            kb.TryGetValue(key, out var vb);
            if (va == vb || !seen.Add(key)) continue;
            result.Add(new ConfigDifference(key, va, vb));
        }
        return result;
    }

    // Keys under their own names: the bundle's config, torch flags (already fully qualified) and the model config.
    // A key present in several places with the same values is reported once.
    static Dictionary<string, string> Keys(Run r)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        if (r.Bundle.Context is { } c)
        {
            foreach (var (k, v) in c.Flags) d[k] = v;
            foreach (var (k, v) in c.ModelConfig) if (!IsNoiseKey(k)) d.TryAdd(k, v);
        }
        foreach (var (k, v) in r.Bundle.Dataflow.Config) if (!IsNoiseKey(k)) d.TryAdd(k, v);
        return d;
    }

    static bool IsNoiseKey(string k) => k is "_name_or_path" or "transformers_version" or "model";

    internal static List<string> Classes(Run r, List<Operator> ops) =>
        ops.Select(o => r.ModuleClass(o.Module)).OfType<string>().Distinct().ToList();
}
