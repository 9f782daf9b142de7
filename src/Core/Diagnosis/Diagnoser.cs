using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Runs;
using static Magneton.Core.Detection.CauseClassifier;

namespace Magneton.Core.Diagnosis;

/// <summary>
/// Explains a finding from what differs between the two sides of its regions, most specific first:
/// different operators (report the efficient combination), different memory layout (strides, transposition
/// kernels), redundant copies, and the same operators on the same call path dispatching different kernels
/// (a flag or configuration chose them). Configuration keys that differ between the runs are attached.
/// </summary>
public static class Diagnoser
{
    public static CauseReport Diagnose(MatchSession s, IReadOnlyList<RegionMatch> regions, Finding f)
    {
        var byId = regions.ToDictionary(r => r.Id);
        var rs = f.Regions.Select(id => byId[id]).ToList();
        var first = rs[0];
        var opsA = Computing(s.A, first.NodesA);
        var opsB = Computing(s.B, first.NodesB);
        bool aWastes = f.Wasteful == Side.A;
        var (wasteOps, effOps) = aWastes ? (opsA, opsB) : (opsB, opsA);

        var config = ConfigDiff(s.A, s.B);
        // The grouping decided the kind for all the finding's sites; a finding from before grouping has none.
        var kind = f.Kind != CauseKind.None ? f.Kind : Classify(s, rs, aWastes).Kind;

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
        return cause with { Suggestion = Suggest(kind, cause, f.Wasteful, wasteOps, effOps) };
    }

    public static string Category(CauseReport c) => c.Kind switch
    {
        CauseKind.Layout => "layout",
        CauseKind.Redundant => "redundant",
        CauseKind.OperatorSet or CauseKind.KernelChoice => c.Config.Count > 0 ? "misconfiguration" : "api-misuse",
        CauseKind.Config => "misconfiguration",
        _ => "unknown",
    };

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

    static string Suggest(CauseKind kind, CauseReport c, Side wasteful, List<Operator> wasteOps, List<Operator> effOps)
    {
        string side = wasteful.Label(), other = wasteful.Other().Label();
        bool aWastes = wasteful == Side.A;
        string keys = c.Config.Count == 0 ? "" :
            " Configuration that differs: " + string.Join(", ", c.Config.Take(4).Select(k =>
                $"{k.Key} ({side}: {(aWastes ? k.A : k.B) ?? "unset"}, {other}: {(aWastes ? k.B : k.A) ?? "unset"})")) + ".";
        var (onlyWaste, onlyEff) = OperatorDifference(wasteOps, effOps);
        return kind switch
        {
            // Name what differs, not the identical operators around it.
            CauseKind.OperatorSet when onlyEff.Count == 0 && onlyWaste.Count > 0 =>
                $"{side} runs {Summarise(onlyWaste)} that {other} does not need for the same result; remove {(onlyWaste.Count == 1 ? "it" : "them")}.{keys}",
            CauseKind.OperatorSet =>
                $"Use {other}'s combination ({Summarise(onlyEff.Count > 0 ? onlyEff : effOps.Select(o => o.Op))}) instead of {side}'s ({Summarise(onlyWaste.Count > 0 ? onlyWaste : wasteOps.Select(o => o.Op))}).{keys}",
            CauseKind.KernelChoice =>
                $"Same operators and call stacks, different kernels: {side} runs {First(c, wasteful)} where {other} runs {First(c, wasteful.Other())}.{keys}",
            CauseKind.Layout =>
                $"{side} computes on a memory layout that forces transposition or slower kernels; use {other}'s layout.{keys}",
            CauseKind.Redundant =>
                $"{side} runs copies that {other} does not need ({Summarise(wasteOps.Where(o => CopyOps.Contains(o.Op)).ToList())}); remove them.{keys}",
            _ => $"{side} spends more energy for the same result.{keys}",
        };
    }

    static string First(CauseReport c, Side side)
    {
        var list = side == Side.A ? c.Kernels.A : c.Kernels.B;
        var other = side == Side.A ? c.Kernels.B : c.Kernels.A;
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
