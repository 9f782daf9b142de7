using System.Text;
using Magneton.Core.Campaigns;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using static Magneton.Core.Rendering.Html.HtmlText;

namespace Magneton.Core.Rendering.Html;

public static partial class HtmlReport
{
    /// <summary>
    /// A campaign report as a page: the verdict, the versions against the baseline (chart and table), recurring
    /// causes, regressions, each version's findings.
    /// </summary>
    public static string RenderCampaign(CampaignReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var r = report;
        var sb = new StringBuilder();
        sb.Append("<header class=\"top\"><h1>Campaign: ").Append(r.Versions.Count.ToString(Ci)).Append(" version(s) against ")
          .Append(E(r.Baseline.System.Length > 0 ? r.Baseline.System : r.Baseline.Bundle))
          .Line("</h1><div class=\"brand\">Magneton \u00b7 campaign report</div></header>");

        var wasteful = r.Versions.Where(v => v.WasteInVersion > 0).ToList();
        var failed = r.Versions.Where(v => v.Error is not null).ToList();
        string cls = wasteful.Count > 0 || r.Regressions.Count > 0 ? "waste" : failed.Count > 0 ? "trade" : "ok";
        string verdict = wasteful.Count > 0
            ? $"{wasteful.Count} of {r.Versions.Count} version(s) waste energy against the baseline"
            : "No version wastes energy against the baseline";
        string sub = $"{r.Regressions.Count} regression(s), {r.RecurringCauses.Count} recurring cause(s)"
            + (failed.Count > 0 ? $", {failed.Count} version(s) failed" : "")
            + $"; baseline {Joules(r.Baseline.IterationEnergyJ)} per iteration; threshold {Percent(r.Threshold, "0.#")}.";
        VerdictBox(sb, cls, verdict, sub);

        CampaignChart(sb, r);
        Versions(sb, r);
        RecurringAndRegressions(sb, r);

        foreach (var v in r.Versions.Where(v => v.Findings.Count > 0))
        {
            sb.Append(Ci, $"<h2 style=\"font-size:16px;margin:18px 0 0\">Version {v.Index}: {E(v.Run?.System ?? v.Bundle)} ")
              .Append("<span class=\"muted small\">(A = baseline, B = this version)</span></h2>\n");
            foreach (var f in v.Findings)
                sb.Append(FindingCard(f, "baseline", "version", r.Baseline.System, v.Run?.System ?? v.Bundle, null, $"v{v.Index}-"));
        }
        sb.Append(Ci, $"<footer>{E(r.Schema)} \u00b7 baseline: {E(r.Baseline.Bundle)} (run {E(r.Baseline.RunId)})</footer>\n");
        return HtmlPage.Wrap($"Magneton campaign: {r.Baseline.System}", sb.ToString());
    }

    static void CampaignChart(StringBuilder sb, CampaignReport r)
    {
        var rows = new List<(string, double, string, string)>
        {
            ("baseline: " + r.Baseline.System, r.Baseline.IterationEnergyJ, "#8a93a5", Joules(r.Baseline.IterationEnergyJ)),
        };
        foreach (var v in r.Versions)
        {
            string label = $"{v.Index}: {(v.Run?.System ?? v.Bundle)}";
            if (v.Run is null) { rows.Add((label, double.NaN, "#8a93a5", "failed: " + (v.Error ?? "?"))); continue; }
            string color = v.WasteInVersion > 0 ? SvgCharts.ColorWaste : SvgCharts.ColorA;
            string value = $"{Joules(v.Run.IterationEnergyJ)} \u00b7 {Ratio3(v.EnergyRatio)} baseline \u00b7 "
                + $"waste {v.WasteInVersion}/{v.WasteInBaseline}";
            rows.Add((label, v.Run.IterationEnergyJ, color, value));
        }
        sb.Line("<section id=\"campaign-chart\" class=\"card\"><h2>Energy per iteration by version <span class=\"muted small\">"
            + "red: the version has waste the baseline has not; dashed: the baseline</span></h2>");
        sb.Line(SvgCharts.Bars("campaign-chart-svg", "Energy per iteration of each version against the baseline", rows,
            r.Baseline.IterationEnergyJ, "baseline", "J per iteration"));
        sb.Line("</section>");
    }

    static void Versions(StringBuilder sb, CampaignReport r)
    {
        sb.Line("<section id=\"versions\" class=\"card\"><h2>Versions</h2><table>");
        sb.Line("<tr><th class=\"num\">#</th><th>system</th><th class=\"num\">J/iteration</th><th class=\"num\">vs baseline</th>"
            + "<th class=\"num\">time vs baseline</th><th class=\"num\">waste in version / baseline</th><th>top finding</th></tr>");
        foreach (var v in r.Versions)
        {
            if (v.Run is null)
            {
                sb.Append(Ci, $"<tr class=\"hl\"><td class=\"num\">{v.Index}</td><td><code>{E(v.Bundle)}</code></td>")
                  .Append(Ci, $"<td colspan=\"5\">failed: {E(v.Error)}</td></tr>\n");
                continue;
            }
            var top = v.Findings.Where(f => f.Verdict == Verdict.Waste && f.Wasteful == Side.B).OrderByDescending(f => f.EnergyDeltaJ).FirstOrDefault();
            string topCell = top is null ? ""
                : $"<a href=\"#v{v.Index}-finding-{top.Id}\"><code>{E(top.Where)}</code></a> ({E(top.Cause.Kind.Json())}, {E(Ratio(top.EnergyRatio))})";
            sb.Append(Ci, $"<tr{(v.WasteInVersion > 0 ? " class=\"hl\"" : "")}><td class=\"num\">{v.Index}</td>")
              .Append(Ci, $"<td>{E(v.Run.System)}<div class=\"small muted\"><code>{E(v.Bundle)}</code></div></td>")
              .Append(Ci, $"<td class=\"num\">{E(Joules(v.Run.IterationEnergyJ))}</td><td class=\"num\">{E(Ratio3(v.EnergyRatio))}</td>")
              .Append(Ci, $"<td class=\"num\">{E(Ratio3(v.TimeRatio))}</td>")
              .Append(Ci, $"<td class=\"num\">{v.WasteInVersion} / {v.WasteInBaseline}</td><td>{topCell}</td></tr>\n");
        }
        sb.Line("</table></section>");
    }

    static void RecurringAndRegressions(StringBuilder sb, CampaignReport r)
    {
        if (r.RecurringCauses.Count + r.Regressions.Count == 0) return;
        sb.Line("<section id=\"recurring\" class=\"card\"><h2>Recurring causes and regressions</h2>");
        if (r.RecurringCauses.Count > 0)
        {
            sb.Append("<table><tr><th>cause</th><th>where</th><th>waste in</th><th>versions</th>")
              .Append("<th class=\"num\">mean energy ratio</th></tr>");
            foreach (var c in r.RecurringCauses)
                sb.Append(Ci, $"<tr><td>{E(c.Kind.Json())}</td><td><code>{E(c.Where)}</code></td>")
                  .Append(Ci, $"<td>{(c.Wasteful == Side.B ? "the version" : "the baseline")}</td><td>{E(string.Join(", ", c.Versions))}</td>")
                  .Append(Ci, $"<td class=\"num\">{E(Ratio(c.MeanEnergyRatio))}</td></tr>");
            sb.Line("</table>");
        }
        if (r.Regressions.Count > 0)
        {
            sb.Append("<h4>Regressions</h4><ul>");
            foreach (var g in r.Regressions)
            {
                string added = g.NewFindings.Count > 0 ? "; new: " + E(string.Join("; ", g.NewFindings)) : "";
                sb.Append(Ci, $"<li>version {g.From} \u2192 {g.To}: energy {E(Ratio3(g.EnergyRatio))}{added}</li>");
            }
            sb.Line("</ul>");
        }
        sb.Line("</section>");
    }
}
