using System.Text;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using static Magneton.Core.Rendering.Html.HtmlText;

namespace Magneton.Core.Rendering.Html;

// What the comparison, campaign and audit pages all show: the verdict box and the finding cards.
public static partial class HtmlReport
{
    /// <summary>The verdict, first on every page: its class (waste, trade, ok) colours it.</summary>
    static void VerdictBox(StringBuilder sb, string cls, string verdict, string sub) =>
        sb.Append(Ci, $"<section id=\"verdict\" class=\"verdict {cls}\"><div class=\"label\">VERDICT</div>")
          .Append(Ci, $"<div><div class=\"text\">{E(verdict)}</div><div class=\"sub\">{E(sub)}</div></div></section>\n");

    static string SideName(Side side) => side.Label();

    static string Badge(FindingReport f, string sideA = "A", string sideB = "B") =>
        $"<span class=\"badge {(f.Verdict == Verdict.Waste ? "waste" : "trade-off")}\">{E(f.Verdict.Json().ToUpperInvariant())} in "
        + $"{E(f.Wasteful == Side.A ? sideA : sideB)}</span>";

    /// <summary>
    /// One finding: what, where, how much, the explanation, what to change, then the evidence side by side
    /// (operator chains of its regions, kernels, module classes and source lines).
    /// </summary>
    static string FindingCard(FindingReport f, string sideA, string sideB, string systemA, string systemB,
        IReadOnlyDictionary<int, RegionReport>? regions, string idPrefix = "", bool timeOnly = false, SvgCharts.Metric? metric = null)
    {
        var sb = new StringBuilder();
        string wastefulName = f.Wasteful == Side.A ? sideA : sideB;
        sb.Append(Ci, $"<article class=\"card finding {(f.Verdict == Verdict.Waste ? "waste" : "trade-off")}\" id=\"{E(idPrefix)}finding-{f.Id}\">");
        sb.Append(Ci, $"<h3>[{f.Id}] {Badge(f, sideA, sideB)} <span class=\"where\">{E(f.Where)}</span> ")
          .Append(Ci, $"<span class=\"muted small\">{f.Instances} instance{(f.Instances == 1 ? "" : "s")}")
          .Append(Ci, $"{(f.Sites.Count > 1 ? $" at {f.Sites.Count} sites" : "")} \u00b7 {E(f.Category)}</span></h3>\n");
        Tiles(sb, f, wastefulName, regions, timeOnly, metric);
        sb.Append("<p class=\"explanation\">").Append(E(f.Explanation)).Line("</p>");
        Sites(sb, f);
        Fix(sb, f, sideA, sideB);
        if (regions is not null) Chains(sb, f, sideA, sideB, systemA, systemB, regions);
        Kernels(sb, f, sideA, sideB);
        ClassesAndSource(sb, f, sideA, sideB);
        sb.Line("</article>");
        return sb.ToString();
    }

    static void Tiles(StringBuilder sb, FindingReport f, string wastefulName, IReadOnlyDictionary<int, RegionReport>? regions,
        bool timeOnly, SvgCharts.Metric? metric)
    {
        sb.Append("<div class=\"tiles\">");
        if (timeOnly && regions is not null && metric is not null)
            Tile(sb, "+" + metric.Show(TimeDelta(f, regions)) + " " + metric.Unit, "GPU time per step, " + wastefulName + " over the other");
        if (double.IsFinite(f.EnergyDeltaJ)) Tile(sb, SignedMj(f.EnergyDeltaJ), "per iteration, " + wastefulName + " over the other");
        if (double.IsFinite(f.ShareOfJob)) Tile(sb, Percent(f.ShareOfJob), "of " + wastefulName + "'s measured job");
        if (double.IsFinite(f.EnergyRatio)) Tile(sb, Ratio(f.EnergyRatio), "energy");
        Tile(sb, Ratio(f.TimeRatio), "GPU time");
        Tile(sb, f.Cause.Kind.Json(), "cause");
        if (f.EnergySource.Length > 0) Tile(sb, f.EnergySource, "energy source");
        sb.Line("</div>");
    }

    static void Sites(StringBuilder sb, FindingReport f)
    {
        if (f.Sites.Count <= 1) return;
        const int ShownSites = 12;
        sb.Append(Ci, $"<h4>Sites \u00b7 {f.Sites.Count}, summed above</h4>")
          .Append("<table><tr><th>where</th><th>regions</th><th>mJ per iteration</th><th>of the job</th></tr>");
        foreach (var x in f.Sites.Take(ShownSites))
            sb.Append(Ci, $"<tr><td><code>{E(x.Where)}</code></td><td>{x.Regions.Count}</td>")
              .Append(Ci, $"<td>{E(SignedMj(x.EnergyDeltaJ))}</td><td>{E(Percent(x.ShareOfJob))}</td></tr>");
        sb.Line("</table>");
        if (f.Sites.Count > ShownSites) sb.Append(Ci, $"<p class=\"note\">{f.Sites.Count - ShownSites} more sites in the JSON report.</p>");
    }

    /// <summary>What to change: the suggestion, the efficient operators and the configuration keys that differ.</summary>
    static void Fix(StringBuilder sb, FindingReport f, string sideA, string sideB)
    {
        var c = f.Cause;
        sb.Append("<div class=\"fix\"><h4>What to change</h4>");
        if (c.Suggestion.Length > 0) sb.Append("<p style=\"margin:0 0 4px\">").Append(E(c.Suggestion)).Append("</p>");
        if (c.EfficientOps.Count > 0)
            sb.Append("<p class=\"small\" style=\"margin:0 0 4px\">Efficient operators: ")
              .Append(string.Join(", ", c.EfficientOps.Select(o => $"<code>{E(o)}</code>"))).Append("</p>");
        if (c.Config.Count > 0)
        {
            sb.Append(Ci, $"<table><tr><th>configuration key</th><th>{E(sideA)}</th><th>{E(sideB)}</th></tr>");
            foreach (var k in c.Config)
                sb.Append(Ci, $"<tr><td><code>{E(k.Key)}</code></td><td><code>{E(k.A ?? "unset")}</code></td>")
                  .Append(Ci, $"<td><code>{E(k.B ?? "unset")}</code></td></tr>");
            sb.Append("</table>");
        }
        else sb.Append("<p class=\"note\">No configuration key differs between the runs here.</p>");
        sb.Line("</div>");
    }

    /// <summary>Operator chains of the finding's regions, one block per distinct pair of chains.</summary>
    static void Chains(StringBuilder sb, FindingReport f, string sideA, string sideB, string systemA, string systemB,
        IReadOnlyDictionary<int, RegionReport> regions)
    {
        var found = f.Regions.Where(regions.ContainsKey).Select(id => regions[id]).ToList();
        var groups = found.GroupBy(x => string.Join('\n', x.A.Ops) + "\u0000" + string.Join('\n', x.B.Ops)).ToList();
        foreach (var g in groups.Take(3))
        {
            var first = g.First();
            var others = g.Skip(1).Select(x => x.Id).ToList();
            string same = others.Count > 0
                ? $" (same chains in region{(others.Count == 1 ? "" : "s")} {string.Join(", ", others)})"
                : "";
            sb.Append(Ci, $"<h4>Operator chains \u00b7 region {first.Id}{same}</h4>");
            sb.Append("<div class=\"cols\">");
            sb.Append(Chain(sideA, systemA, first.A, f.Wasteful == Side.A, "a"));
            sb.Append(Chain(sideB, systemB, first.B, f.Wasteful == Side.B, "b"));
            sb.Line("</div>");
        }
        if (groups.Count > 3) sb.Append(Ci, $"<p class=\"note\">{groups.Count - 3} more distinct chains in the JSON report.</p>");
    }

    /// <summary>Kernels, marking those only one side launches.</summary>
    static void Kernels(StringBuilder sb, FindingReport f, string sideA, string sideB)
    {
        var kernels = f.Cause.Kernels;
        if (kernels.A.Count + kernels.B.Count == 0) return;
        sb.Append("<h4>Kernels</h4><div class=\"cols\">");
        foreach (var (name, mine, theirs) in new[] { (sideA, kernels.A, kernels.B), (sideB, kernels.B, kernels.A) })
        {
            sb.Append(Ci, $"<div><div class=\"small muted\">{E(name)}: {mine.Count} kernel{(mine.Count == 1 ? "" : "s")}</div>")
              .Append("<ul class=\"kernels\">");
            foreach (var k in mine.Take(12))
            {
                bool only = !theirs.Contains(k);
                string onlyNote = only ? $" <span class=\"muted small\">only in {E(name)}</span>" : "";
                sb.Append(Ci, $"<li><details><summary><code class=\"{(only ? "only" : "")}\">{E(ShortKernel(k))}</code>{onlyNote}</summary>")
                  .Append(Ci, $"<div class=\"full\">{E(k)}</div></details></li>");
            }
            sb.Append("</ul>");
            if (mine.Count > 12) sb.Append(Ci, $"<p class=\"note\">{mine.Count - 12} more in the JSON report.</p>");
            sb.Append("</div>");
        }
        sb.Line("</div>");
    }

    static void ClassesAndSource(StringBuilder sb, FindingReport f, string sideA, string sideB)
    {
        var c = f.Cause;
        bool anyClasses = c.Classes.A.Count + c.Classes.B.Count > 0;
        var srcA = c.SourceLines.A.Count > 0 ? c.SourceLines.A : c.Source.A;
        var srcB = c.SourceLines.B.Count > 0 ? c.SourceLines.B : c.Source.B;
        if (!anyClasses && srcA.Count + srcB.Count == 0) return;
        sb.Append("<h4>Module classes and source lines</h4><div class=\"cols\">");
        foreach (var (name, classes, src) in new[] { (sideA, c.Classes.A, srcA), (sideB, c.Classes.B, srcB) })
        {
            sb.Append(Ci, $"<div><div class=\"small muted\">{E(name)}</div>");
            foreach (var cls in classes.Take(4)) sb.Append("<div><code>").Append(E(cls)).Append("</code></div>");
            foreach (var line in src.Take(4)) sb.Append("<pre class=\"src\">").Append(E(line)).Append("</pre>");
            if (classes.Count == 0 && src.Count == 0) sb.Append("<p class=\"note\">none recorded</p>");
            sb.Append("</div>");
        }
        sb.Line("</div>");
    }

    static void Tile(StringBuilder sb, string value, string caption) =>
        sb.Append("<div class=\"tile\"><b>").Append(E(value)).Append("</b><span>").Append(E(caption)).Append("</span></div>");

    static string Chain(string side, string system, RegionSideReport s, bool wasteful, string cls)
    {
        const int max = 40;
        var sb = new StringBuilder();
        sb.Append(Ci, $"<div class=\"chainbox{(wasteful ? " wasteful" : "")}\"><h5><span class=\"key {cls}\"></span>{E(side)} \u00b7 {E(system)}");
        string energy = double.IsFinite(s.EnergyJ) ? Joules(s.EnergyJ) + ", " : "";
        sb.Append(Ci, $" <span class=\"muted small\">{E(energy)}{E(Us(s.GpuTimeS))}, ")
          .Append(Ci, $"{s.Ops.Count} op{(s.Ops.Count == 1 ? "" : "s")} ({E(s.EnergySource)})</span></h5>");
        if (s.Modules.Count > 0) sb.Append("<div class=\"small muted\">").Append(E(string.Join(", ", s.Modules.Take(4)))).Append("</div>");
        sb.Append("<ol class=\"chain\">");
        foreach (var op in s.Ops.Take(max)) sb.Append("<li>").Append(E(op)).Append("</li>");
        sb.Append("</ol>");
        if (s.Ops.Count > max) sb.Append(Ci, $"<p class=\"note\">{s.Ops.Count - max} more operators in the JSON report.</p>");
        sb.Append("</div>");
        return sb.ToString();
    }
}
