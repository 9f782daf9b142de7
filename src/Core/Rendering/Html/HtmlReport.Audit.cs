using System.Text;
using Magneton.Core.Audits;
using static Magneton.Core.Rendering.Html.HtmlText;
using Magneton.Core.Detection;

namespace Magneton.Core.Rendering.Html;

public static partial class HtmlReport
{
    /// <summary>
    /// An audit report as a page: the verdict, each node's iteration energy against the median, the outliers with
    /// their differences and findings.
    /// </summary>
    public static string RenderAudit(AuditReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var r = report;
        var sb = new StringBuilder();
        sb.Append("<header class=\"top\"><h1>Audit: ").Append(E(r.Job)).Append(" on ").Append(r.Nodes.Count.ToString(Ci))
          .Line(" node(s)</h1><div class=\"brand\">Magneton \u00b7 audit report</div></header>");
        // Amber, not green, when too few nodes to decide: nothing was cleared.
        string cls = r.Outliers.Count > 0 ? "waste" : r.OutliersDecidable ? "ok" : "trade";
        string verdict = r.Verdict();
        string sub = $"median {Joules(r.MedianEnergyJ)} per iteration, MAD {Joules(r.MadEnergyJ)}; typical node {r.NodeName(r.TypicalNode)}; "
            + $"outlier score above {AuditAnalysis.OutlierScore.ToString("0.0", Ci)}.";
        VerdictBox(sb, cls, verdict, sub);

        AuditChart(sb, r);
        Nodes(sb, r);
        var typical = r.Nodes.FirstOrDefault(n => n.Index == r.TypicalNode);
        foreach (var o in r.Outliers)
        {
            var node = r.Nodes.FirstOrDefault(n => n.Index == o.Node);
            Outlier(sb, r, o);
            foreach (var f in o.Findings)
                sb.Append(FindingCard(f, "typical node", "this node", typical?.Host ?? "typical", node?.Host ?? "node", null, $"n{o.Node}-"));
        }
        if (r.Notes.Count > 0)
        {
            sb.Append("<section class=\"card\"><h2>Notes</h2><ul class=\"small\">");
            foreach (var n in r.Notes) sb.Append("<li>").Append(E(n)).Append("</li>");
            sb.Line("</ul></section>");
        }
        sb.Append(Ci, $"<footer>{E(r.Schema)}</footer>\n");
        return HtmlPage.Wrap($"Magneton audit: {r.Job}", sb.ToString());
    }

    static void AuditChart(StringBuilder sb, AuditReport r)
    {
        var rows = r.Nodes.Select(n => ($"{n.Index}: {n.Host}", n.IterationEnergyJ,
            n.Outlier ? SvgCharts.ColorWaste : n.Index == r.TypicalNode ? SvgCharts.ColorB : SvgCharts.ColorA,
            $"{Joules(n.IterationEnergyJ)} \u00b7 score {n.EnergyScore.ToString("0.00", Ci)}{NodeMark(r, n, " \u00b7 OUTLIER", " \u00b7 typical")}"))
            .ToList();
        sb.Line("<section id=\"audit-chart\" class=\"card\"><h2>Energy per iteration by node "
            + "<span class=\"muted small\">red: outlier; orange: the typical node; dashed: the median</span></h2>");
        sb.Line(SvgCharts.Bars("audit-chart-svg", "Energy per iteration of each node against the median", rows, r.MedianEnergyJ,
            "median", "J per iteration"));
        sb.Line("</section>");
    }

    static void Nodes(StringBuilder sb, AuditReport r)
    {
        sb.Line("<section id=\"nodes\" class=\"card\"><h2>Nodes</h2><table>");
        sb.Line("<tr><th class=\"num\">#</th><th>host</th><th>GPU</th><th>driver</th><th class=\"num\">power limit</th>"
            + "<th class=\"num\">J/iteration</th><th class=\"num\">s/iteration</th><th class=\"num\">score</th></tr>");
        foreach (var n in r.Nodes)
        {
            string limit = n.PowerLimitW is { } pl ? pl.ToString("0", Ci) + " W" : "?";
            sb.Append(Ci, $"<tr{(n.Outlier ? " class=\"hl\"" : "")}><td class=\"num\">{n.Index}</td>")
              .Append(Ci, $"<td>{E(n.Host)}<div class=\"small muted\"><code>{E(n.Bundle)}</code></div></td>")
              .Append(Ci, $"<td>{E(n.Gpu ?? "?")}</td><td>{E(n.Driver ?? "?")}</td>")
              .Append(Ci, $"<td class=\"num\">{limit}</td><td class=\"num\">{E(Joules(n.IterationEnergyJ))}</td>")
              .Append(Ci, $"<td class=\"num\">{E(Ms(n.IterationTimeS))}</td>")
              .Append(Ci, $"<td class=\"num\">{n.EnergyScore.ToString("0.00", Ci)}{NodeMark(r, n, " <b>outlier</b>", " typical")}</td></tr>\n");
        }
        sb.Line("</table></section>");
    }

    static string NodeMark(AuditReport r, AuditNode n, string outlier, string typical) =>
        n.Outlier ? outlier : n.Index == r.TypicalNode ? typical : "";

    static void Outlier(StringBuilder sb, AuditReport r, AuditOutlier o)
    {
        sb.Append(Ci, $"<section class=\"card\" id=\"outlier-{o.Node}\"><h2>Node {E(r.NodeName(o.Node))}: ")
          .Append(Ci, $"{E(Ratio3(o.EnergyRatio))} the typical node's energy, {E(Ratio3(o.TimeRatio))} its time</h2>\n");
        if (o.NodeDifferences.Count > 0)
        {
            sb.Append("<table><tr><th>difference</th><th>typical node</th><th>this node</th></tr>");
            foreach (var d in o.NodeDifferences)
                sb.Append(Ci, $"<tr><td>{E(d.Key)}</td><td><code>{E(d.A ?? "?")}</code></td><td><code>{E(d.B ?? "?")}</code></td></tr>");
            sb.Line("</table>");
        }
        else sb.Line("<p class=\"note\">GPU, driver and power limit are the same as on the typical node.</p>");
        if (o.NodeDifferences.Count == 0 && !o.Findings.Any(f => f.Verdict == Verdict.Waste))
            sb.Line("<p>No operator-level cause: the difference is outside the matched operators (host, idle, clocks).</p>");
        sb.Line("</section>");
    }
}
