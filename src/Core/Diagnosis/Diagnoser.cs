using Magneton.Core.Detection;
using Magneton.Core.Energy;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Runs;

namespace Magneton.Core.Diagnosis;

/// <summary>
/// Explains a finding from what differs between the two sides of its regions, most specific first:
/// different operators (report the efficient combination), different memory layout (strides, transposition
/// kernels), redundant copies, and the same operators on the same call path dispatching different kernels
/// (a flag or configuration chose them). Configuration keys that differ between the runs are attached.
/// </summary>
public static class Diagnoser
{
    static readonly string[] TransposeMarkers = ["nchwToNhwc", "nhwcToNchw", "transpose", "permute", "Transpose"];
    static readonly HashSet<string> CopyOps =
        ["aten.contiguous.default", "aten.clone.default", "aten.copy_.default", "aten._to_copy.default", "aten.to.dtype", "aten.to.dtype_layout"];

    public static CauseReport Diagnose(MatchSession s, IReadOnlyList<RegionMatch> regions, Finding f)
    {
        var byId = regions.ToDictionary(r => r.Id);
        var rs = f.Regions.Select(id => byId[id]).ToList();
        var first = rs[0];
        var opsA = Computing(s.A, first.NodesA);
        var opsB = Computing(s.B, first.NodesB);
        bool aWastes = f.Wasteful == "a";
        var (wasteOps, effOps) = aWastes ? (opsA, opsB) : (opsB, opsA);
        var (wasteRun, effRun) = aWastes ? (s.A, s.B) : (s.B, s.A);

        var config = ConfigDiff(s.A, s.B);
        // The grouping decided the kind for all the finding's sites; a finding from before grouping has none.
        string kind = f.Kind is { Length: > 0 } k ? k : Classify(s, rs, aWastes).Kind;

        var allA = rs.SelectMany(r => Computing(s.A, r.NodesA)).ToList();
        var allB = rs.SelectMany(r => Computing(s.B, r.NodesB)).ToList();
        var framesA = Frames(allA);
        var framesB = Frames(allB);
        var cause = new CauseReport(
            kind,
            config,
            new PerSide<string>(Kernels(allA).Distinct().ToList(), Kernels(allB).Distinct().ToList()),
            new PerSide<string>(allA.Select(o => o.Module).Distinct().ToList(), allB.Select(o => o.Module).Distinct().ToList()),
            new PerSide<string>(Classes(s.A, allA), Classes(s.B, allB)),
            new PerSide<string>(framesA.Select(Location).Distinct().ToList(), framesB.Select(Location).Distinct().ToList()))
        {
            EfficientOps = effOps.Select(o => o.Op).ToList(),
            SourceLines = new PerSide<string>(SourceText(s.A, framesA), SourceText(s.B, framesB)),
        };
        return cause with { Suggestion = Suggest(cause, f, wasteRun, effRun, wasteOps, effOps) };
    }

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
        string kind;
        bool cpu = s.A.IsCpuCapture || s.B.IsCpuCapture;
        if (HasLayoutDifference(s, rs, aWastes)) return new RegionCause("layout", "layout");
        if (IsRedundant(wasteOps, effOps)) kind = "redundant";
        // Extra operators that launch no GPU work (bookkeeping, eval-mode dropout) make no other combination of work:
        // the kernels then decide.
        else if (!Working(wasteOps, cpu).SequenceEqual(Working(effOps, cpu))) kind = "operator-set";
        else if (!Kernels(opsA).SequenceEqual(Kernels(opsB))) kind = "kernel-choice";
        else kind = ConfigDiff(s.A, s.B).Count > 0 ? "config" : "unknown";
        string what = kind is "redundant" or "operator-set"
            ? string.Join(",", onlyWaste.Order(StringComparer.Ordinal)) + "=>" + string.Join(",", onlyEff.Order(StringComparer.Ordinal))
            : "";
        return new RegionCause(kind, $"{kind}|{what}|{classes}");
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

    public static string Category(CauseReport c) => c.Kind switch
    {
        "layout" => "layout",
        "redundant" => "redundant",
        "operator-set" => c.Config.Count > 0 ? "misconfiguration" : "api-misuse",
        "kernel-choice" => c.Config.Count > 0 ? "misconfiguration" : "api-misuse",
        "config" => "misconfiguration",
        _ => "unknown",
    };

    /// <summary>Operators that did work: GPU work in a GPU capture; in a CPU capture no operator launches GPU work, so all.</summary>
    static IEnumerable<string> Working(List<Operator> ops, bool cpu) =>
        ops.Where(o => cpu || o.GpuSeconds > 0 || o.Kernels.Count > 0).Select(o => o.Op);

    static List<Operator> Computing(Run r, int[] nodes) =>
        nodes.Select(i => r.Operators[i]).Where(o => !o.IsPureView).ToList();

    // Kernels proper: memsets and copies that a GEMM launches around itself are not a choice anyone makes.
    static IEnumerable<string> Kernels(IEnumerable<Operator> ops) =>
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

    static List<string> Classes(Run r, List<Operator> ops) =>
        ops.Select(o => r.ModuleClass(o.Module)).OfType<string>().Distinct().ToList();

    /// <summary>Innermost frame of each operator: the library or user line that called into the framework.</summary>
    static List<string> Frames(List<Operator> ops) =>
        ops.Select(o => o.Node.Stack.Count > 0 ? o.Node.Stack[0] : null).OfType<string>().Distinct().ToList();

    static string Location(string frame)
    {
        // frame = file:line:function
        int last = frame.LastIndexOf(':');
        return last > 0 ? frame[..last] : frame;
    }

    static List<string> SourceText(Run r, List<string> frames)
    {
        var result = new List<string>();
        if (r.Bundle.Context is not { } c) return result;
        foreach (var f in frames)
        {
            if (!c.Source.TryGetValue(f, out var lines)) continue;
            int line = int.TryParse(f.Split(':').ElementAtOrDefault(1), out var n) ? n : -1;
            var hit = lines.FirstOrDefault(l => l.Line == line) ?? lines.FirstOrDefault();
            if (hit is not null) result.Add($"{Location(f)}: {hit.Text.Trim()}");
        }
        return result;
    }

    static string Suggest(CauseReport c, Finding f, Run waste, Run eff, List<Operator> wasteOps, List<Operator> effOps)
    {
        string side = f.Wasteful == "a" ? "A" : "B", other = f.Wasteful == "a" ? "B" : "A";
        string keys = c.Config.Count == 0 ? "" :
            " Configuration that differs: " + string.Join(", ", c.Config.Take(4).Select(k =>
                $"{k.Key} ({side}: {(f.Wasteful == "a" ? k.A : k.B) ?? "unset"}, {other}: {(f.Wasteful == "a" ? k.B : k.A) ?? "unset"})")) + ".";
        var (onlyWaste, onlyEff) = OperatorDifference(wasteOps, effOps);
        return c.Kind switch
        {
            // Name what differs, not the identical operators around it.
            "operator-set" when onlyEff.Count == 0 && onlyWaste.Count > 0 =>
                $"{side} runs {Summarise(onlyWaste)} that {other} does not need for the same result; remove {(onlyWaste.Count == 1 ? "it" : "them")}.{keys}",
            "operator-set" =>
                $"Use {other}'s combination ({Summarise(onlyEff.Count > 0 ? onlyEff : effOps.Select(o => o.Op))}) instead of {side}'s ({Summarise(onlyWaste.Count > 0 ? onlyWaste : wasteOps.Select(o => o.Op))}).{keys}",
            "kernel-choice" =>
                $"Same operators and call stacks, different kernels: {side} runs {First(c, f.Wasteful)} where {other} runs {First(c, f.Wasteful == "a" ? "b" : "a")}.{keys}",
            "layout" =>
                $"{side} computes on a memory layout that forces transposition or slower kernels; use {other}'s layout.{keys}",
            "redundant" =>
                $"{side} runs copies that {other} does not need ({Summarise(wasteOps.Where(o => CopyOps.Contains(o.Op)).ToList())}); remove them.{keys}",
            _ => $"{side} spends more energy for the same result.{keys}",
        };
    }

    static string First(CauseReport c, string side)
    {
        var list = side == "a" ? c.Kernels.A : c.Kernels.B;
        var other = side == "a" ? c.Kernels.B : c.Kernels.A;
        var distinct = list.Where(k => !other.Contains(k)).ToList();
        return Shorten((distinct.Count > 0 ? distinct : list).FirstOrDefault() ?? "?");
    }

    internal static string Shorten(string kernel) => kernel.Length <= 90 ? kernel : kernel[..87] + "...";

    internal static string Summarise(IReadOnlyList<Operator> ops) => Summarise(ops.Select(o => o.Op));

    static string Summarise(IEnumerable<string> ops)
    {
        var groups = ops.GroupBy(o => o).Select(g => g.Count() > 1 ? $"{g.Key} x{g.Count()}" : g.Key).ToList();
        return groups.Count == 0 ? "nothing" : string.Join(", ", groups);
    }
}
