using System.Text;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using static Magneton.Core.Rendering.Html.HtmlText;

namespace Magneton.Core.Rendering.Html;

/// <summary>
/// The HTML reports: one self-contained page per report (inline CSS and SVG, no scripts, no external
/// resources), the verdict first, then what a person needs to act on it. Pure functions: the same report and
/// samples give the same page. This file renders a comparison; HtmlReport.Campaign.cs and HtmlReport.Audit.cs
/// the other two reports, HtmlReport.FindingCard.cs the finding cards all three show.
/// </summary>
public static partial class HtmlReport
{
    /// <summary>How many regions the region chart shows (largest energy differences first).</summary>
    public const int ChartRegions = 10;

    /// <summary>
    /// How many findings the first screen lists (largest first, as the report orders them); all follow in full
    /// below the chart.
    /// </summary>
    public const int SummaryFindings = 3;

    /// <summary>
    /// A comparison report as a page. <paramref name="powerA"/> and <paramref name="powerB"/> are the runs'
    /// power.csv samples, for the power timeline; null where not available (<paramref name="powerNote"/> says why).
    /// </summary>
    public static string Render(ComparisonReport report, PowerSamples? powerA, PowerSamples? powerB, string? powerNote = null)
    {
        ArgumentNullException.ThrowIfNull(report);
        var r = report;
        var sb = new StringBuilder();
        var regions = r.Regions.GroupBy(x => x.Id).ToDictionary(g => g.Key, g => g.First());
        // Plain profiler traces carry no energy: the page then compares GPU time (the report's own measure).
        bool timeOnly = IsTimeOnly(r);
        var metric = SvgCharts.Metric.For(r, timeOnly);

        sb.Append("<header class=\"top\"><h1>")
          .Append("<span class=\"side-a\">A</span> ").Append(E(r.A.System))
          .Append(" <span class=\"muted\">vs</span> <span class=\"side-b\">B</span> ").Append(E(r.B.System))
          .Append("</h1><div class=\"brand\">Magneton \u00b7 differential energy report</div>")
          .Append(Captures(r)).Line("</header>");

        // 1. Verdict.
        VerdictSection(sb, r, regions, timeOnly, metric);

        // 2. Overview: the findings at a glance, and the energy per iteration of both runs.
        Overview(sb, r, regions, timeOnly, metric);

        // 3. Region chart.
        int shown = Math.Min(ChartRegions, SvgCharts.TopRegions(r, ChartRegions, metric).Count);
        string measure = timeOnly ? "GPU time" : "energy";
        sb.Append(Ci, $"<section id=\"region-chart\" class=\"card\"><h2>Region {measure}, A vs B <span class=\"muted small\">")
          .Append(Ci, $"top {shown} of {r.Regions.Count} matched regions by {measure} difference; rows of findings are tinted</span></h2>\n");
        sb.Line(SvgCharts.RegionChart(r, ChartRegions, metric));
        sb.Line("</section>");

        // 4. Findings in full.
        foreach (var f in r.Findings)
            sb.Append(FindingCard(f, "A", "B", r.A.System, r.B.System, regions, timeOnly: timeOnly, metric: metric));

        // 5. Power timeline.
        sb.Line(PowerSection(powerA, powerB, powerNote, r.A.System, r.B.System));

        // 6. Accounting and how far to trust it.
        if (timeOnly) TimeAccounting(sb, r);
        else EnergyAccounting(sb, r);

        MatchingSection(sb, r);
        sb.Append(Ci, $"<footer>{E(r.Schema)} \u00b7 A: {E(r.A.Bundle)} \u00b7 B: {E(r.B.Bundle)}</footer>\n");
        return HtmlPage.Wrap($"Magneton: {r.A.System} vs {r.B.System}", sb.ToString());
    }

    static void VerdictSection(StringBuilder sb, ComparisonReport r, IReadOnlyDictionary<int, RegionReport> regions,
        bool timeOnly, SvgCharts.Metric metric)
    {
        int waste = r.Findings.Count(f => f.Verdict == Verdict.Waste);
        int trade = r.Findings.Count(f => f.Verdict == Verdict.TradeOff);
        string cls = waste > 0 ? "waste" : trade > 0 ? "trade" : "ok";
        string trades = $"{trade} trade-off{(trade == 1 ? "" : "s")}";
        string verdict = waste > 0
            ? $"{waste} energy waste finding{(waste == 1 ? "" : "s")}" + (trade > 0 ? ", " + trades : "")
            : trade > 0 ? "No waste; " + trades : "No operator-level energy waste above the threshold";
        var topFinding = r.Findings.OrderByDescending(f => f.Verdict == Verdict.Waste).ThenByDescending(f => f.EnergyDeltaJ).FirstOrDefault();
        string sub = topFinding is { } tf
            ? $"{SideName(tf.Wasteful)} spends {Mj(tf.EnergyDeltaJ)} mJ more per iteration ({Percent(tf.ShareOfJob)} of its job, "
              + $"{Ratio(tf.EnergyRatio)} energy) in {tf.Where}: {tf.Cause.Kind.Json()} ({tf.Category})."
            : $"Every matched region is within {Percent(r.Threshold, "0")} in energy, or the cheaper side is slower there. "
              + $"Whole job: A {Joules(r.A.IterationEnergyJ)}, B {Joules(r.B.IterationEnergyJ)} per iteration.";
        if (timeOnly)
        {
            cls = r.Findings.Count > 0 ? "trade" : "ok";
            verdict = r.Findings.Count > 0
                ? $"{r.Findings.Count} place{(r.Findings.Count == 1 ? "" : "s")} where one side takes more GPU time"
                : "No matched operator differs in GPU time beyond the threshold";
            var slowest = r.Findings.OrderByDescending(f => TimeDelta(f, regions)).FirstOrDefault();
            sub = (slowest is { } sf
                ? $"{SideName(sf.Wasteful)} takes {metric.Show(TimeDelta(sf, regions))} {metric.Unit} more GPU time in {sf.Where} "
                  + $"({Ratio(sf.TimeRatio)}). "
                : "") + "GPU time only: plain profiler traces carry no energy readings, and values were not compared.";
        }
        if (!r.Comparable)
        {
            cls = "trade";
            verdict = "Not comparable: the two systems do not compute the same thing";
            sub = r.Comparability!.Reason + ". No energy difference between them is a waste claim.";
        }
        VerdictBox(sb, cls, verdict, sub);
    }

    static void Overview(StringBuilder sb, ComparisonReport r, IReadOnlyDictionary<int, RegionReport> regions,
        bool timeOnly, SvgCharts.Metric metric)
    {
        sb.Line("<div class=\"grid2\">");
        sb.Append("<section id=\"findings-summary\" class=\"card\"><h2>Findings <span class=\"muted small\">")
          .Append(timeOnly ? "GPU time difference per step, summed over instances" : "energy difference per iteration, summed over instances")
          .Line("</span></h2>");
        if (r.Findings.Count == 0) sb.Line("<p class=\"muted\">None: no pair of equivalent regions differs beyond the threshold.</p>");
        else
        {
            sb.Line("<ol class=\"flist\">");
            foreach (var f in r.Findings.Take(SummaryFindings))
                sb.Append(Ci, $"<li id=\"finding-title-{f.Id}\"><a href=\"#finding-{f.Id}\">{Badge(f)} ")
                  .Append(Ci, $"<span class=\"where\" title=\"{E(f.Where)}\">{E(Clip(f.Where, 70))}</span> ")
                  .Append(Ci, $"<span class=\"muted\">({f.Instances}\u00d7)</span></a><br>")
                  .Append(timeOnly ? TimeSummary(f, regions, metric) : EnergySummary(f))
                  .Append(FixLine(f)).Append("</li>\n");
            sb.Line("</ol>");
            if (r.Findings.Count > SummaryFindings)
                sb.Append(Ci, $"<p class=\"note\">{r.Findings.Count - SummaryFindings} more findings below the chart.</p>\n");
        }
        sb.Line("</section>");
        if (timeOnly)
        {
            sb.Line("<section id=\"energy-split\" class=\"card\"><h2>GPU time per step "
                + "<span class=\"muted small\">no energy in plain profiler traces</span></h2>");
            sb.Line(SvgCharts.TimeSplit(r.A, r.B));
        }
        else
        {
            sb.Line("<section id=\"energy-split\" class=\"card\"><h2>Energy per iteration "
                + "<span class=\"muted small\">measured job = operators (GPU) + idle/host</span></h2>");
            sb.Line(SvgCharts.EnergySplit(r.A, r.B));
        }
        sb.Line("</section>");
        sb.Line("</div>");
    }

    static string TimeSummary(FindingReport f, IReadOnlyDictionary<int, RegionReport> regions, SvgCharts.Metric metric) =>
        string.Create(Ci, $"<span class=\"small\"><b>+{E(metric.Show(TimeDelta(f, regions)))} {E(metric.Unit)}</b> GPU time \u00b7 ")
        + string.Create(Ci, $"{E(Ratio(f.TimeRatio))} GPU time \u00b7 {E(f.Cause.Kind.Json())}</span>");

    static string EnergySummary(FindingReport f) =>
        string.Create(Ci, $"<span class=\"small\"><b>{E(SignedMj(f.EnergyDeltaJ))}</b>/iteration \u00b7 ")
        + string.Create(Ci, $"{E(Percent(f.ShareOfJob))} of {SideName(f.Wasteful)}'s job \u00b7 {E(Ratio(f.EnergyRatio))} energy \u00b7 ")
        + string.Create(Ci, $"{E(Ratio(f.TimeRatio))} GPU time \u00b7 {E(f.Cause.Kind.Json())}</span>");

    static void TimeAccounting(StringBuilder sb, ComparisonReport r)
    {
        sb.Line("<section id=\"accounting\" class=\"card\"><h2>Time per step</h2><table class=\"narrow\">");
        AccountingHead(sb);
        Row(sb, "step wall time", Ms(r.A.IterationTimeS), Ms(r.B.IterationTimeS));
        Row(sb, "operator GPU time", Ms(r.A.GpuTimeS), Ms(r.B.GpuTimeS));
        Row(sb, "operators", r.A.Operators.ToString(Ci), r.B.Operators.ToString(Ci));
        Row(sb, "trace", r.A.Bundle, r.B.Bundle, mono: true);
        AccountingFoot(sb, r);
    }

    static void EnergyAccounting(StringBuilder sb, ComparisonReport r)
    {
        RunSide a = r.A, b = r.B;
        sb.Line("<section id=\"accounting\" class=\"card\"><h2>Energy accounting per iteration</h2><table class=\"narrow\">");
        AccountingHead(sb);
        Row(sb, "measured job energy (uninstrumented baseline)", Joules(a.IterationEnergyJ), Joules(b.IterationEnergyJ));
        Row(sb, "iteration time", Ms(a.IterationTimeS), Ms(b.IterationTimeS));
        Row(sb, "operator GPU energy", Joules(a.GpuEnergyJ), Joules(b.GpuEnergyJ));
        Row(sb, "operator GPU time", Ms(a.GpuTimeS), Ms(b.GpuTimeS));
        Row(sb, "idle/host energy (idle power \u00d7 time the GPU ran nothing)", Signed(a.IdleEnergyJ) + " J", Signed(b.IdleEnergyJ) + " J");
        Row(sb, "unexplained (measured \u2212 operators \u2212 idle/host)", Unexplained(a), Unexplained(b));
        Row(sb, "operator energy by source", SourceList(a.EnergySources), SourceList(b.EnergySources));
        Row(sb, "operator energy from replay", Percent(a.ReplayShare, "0"), Percent(b.ReplayShare, "0"));
        Row(sb, "model closure (operators + idle/host) / measured", Percent(a.Closure, "0"), Percent(b.Closure, "0"));
        Row(sb, "idle power / energy-pass timeline power", IdleAndTimeline(a), IdleAndTimeline(b));
        Row(sb, "operators", a.Operators.ToString(Ci), b.Operators.ToString(Ci));
        Row(sb, "bundle", a.Bundle, b.Bundle, mono: true);
        AccountingFoot(sb, r);
    }

    static string Unexplained(RunSide s) => $"{Signed(s.UnexplainedJ)} \u00b1 {s.UnexplainedSigmaJ.ToString("0.000", Ci)} J";

    static string IdleAndTimeline(RunSide s) => $"{s.IdlePowerW.ToString("0", Ci)} W / {s.TimelinePowerW.ToString("0", Ci)} W";

    static void AccountingHead(StringBuilder sb) =>
        sb.Append(Ci, $"<tr><th></th><th class=\"num\"><span class=\"key a\"></span>A</th>")
          .Append(Ci, $"<th class=\"num\"><span class=\"key b\"></span>B</th></tr>\n");

    static void AccountingFoot(StringBuilder sb, ComparisonReport r)
    {
        sb.Line("</table>");
        sb.Append(Ci, $"<p class=\"note\">Energy sources: {E(r.EnergyModel.Sources)}. {E(r.EnergyModel.Description)}</p>\n");
        sb.Line("</section>");
    }

    static void MatchingSection(StringBuilder sb, ComparisonReport r)
    {
        var m = r.Matching;
        sb.Line("<section id=\"matching\" class=\"card\"><h2>Matching</h2>");
        sb.Append(Ci, $"<p>{m.Regions} regions ({E(m.Mode.Json())}), {m.CutPoints} cut points, {m.EquivalentValues} equivalent values; ")
          .Append(Ci, $"coverage A {E(Percent(m.ACoverage, "0"))}, B {E(Percent(m.BCoverage, "0"))}; ")
          .Append(Ci, $"{m.ElapsedMs.ToString("0", Ci)} ms. Threshold {E(Percent(r.Threshold, "0.#"))}.</p>\n");
        if (r.Unmatched.A.Count + r.Unmatched.B.Count > 0)
        {
            sb.Line("<div class=\"cols\">");
            foreach (var (name, list) in new[] { ("A", r.Unmatched.A), ("B", r.Unmatched.B) }) Unmatched(sb, name, list);
            sb.Line("</div>");
        }
        if (r.Notes.Count > 0)
        {
            sb.Append("<h4>Notes</h4><ul class=\"small\">");
            foreach (var n in r.Notes) sb.Append("<li>").Append(E(n)).Append("</li>");
            sb.Line("</ul>");
        }
        sb.Line("</section>");
    }

    static void Unmatched(StringBuilder sb, string name, IReadOnlyList<UnmatchedOperator> list)
    {
        sb.Append(Ci, $"<div><h4>Unmatched in {name} ({list.Count})</h4>");
        if (list.Count == 0) { sb.Line("<p class=\"muted small\">none</p></div>"); return; }
        sb.Append("<table><tr><th>operator</th><th class=\"num\">count</th><th class=\"num\">energy</th></tr>");
        foreach (var u in list.OrderByDescending(u => u.EnergyJ).Take(15))
            sb.Append(Ci, $"<tr><td><code>{E(u.Op)}</code></td><td class=\"num\">{u.Count}</td>")
              .Append(Ci, $"<td class=\"num\">{E(Joules(u.EnergyJ))}</td></tr>");
        sb.Append("</table>");
        if (list.Count > 15) sb.Append(Ci, $"<p class=\"note\">{list.Count - 15} more in the JSON report.</p>");
        sb.Line("</div>");
    }

    /// <summary>What to change, on one line: the differing configuration keys, else the fix's first sentence.</summary>
    static string FixLine(FindingReport f)
    {
        if (f.Cause.Config.Count > 0)
        {
            string keys = string.Join("; ", f.Cause.Config.Take(3).Select(c =>
                $"<code>{E(c.Key)}</code>: A <code>{E(c.A ?? "unset")}</code>, B <code>{E(c.B ?? "unset")}</code>"));
            string more = f.Cause.Config.Count > 3 ? $" (+{f.Cause.Config.Count - 3})" : "";
            return $"<span class=\"oneline small\">change {keys}{more}</span>";
        }
        string suggestion = f.Cause.Suggestion;
        int stop = suggestion.IndexOf(". ", StringComparison.Ordinal);
        if (stop > 0) suggestion = suggestion[..(stop + 1)];
        return suggestion.Length == 0 ? "" : $"<span class=\"oneline small muted\">fix: {E(Clip(suggestion, 200))}</span>";
    }

    /// <summary>True for reports without energy (plain profiler traces): every energy figure is missing.</summary>
    static bool IsTimeOnly(ComparisonReport r) =>
        !double.IsFinite(r.A.GpuEnergyJ) && !double.IsFinite(r.B.GpuEnergyJ)
        && r.Regions.All(x => !double.IsFinite(x.A.EnergyJ) || x.A.EnergyJ == 0);

    /// <summary>GPU time the slower side spends more in a finding's regions, summed (seconds).</summary>
    static double TimeDelta(FindingReport f, IReadOnlyDictionary<int, RegionReport> regions)
    {
        double sum = 0;
        bool any = false;
        foreach (var id in f.Regions)
        {
            if (!regions.TryGetValue(id, out var x)) continue;
            double d = f.Wasteful == Side.A ? x.A.GpuTimeS - x.B.GpuTimeS : x.B.GpuTimeS - x.A.GpuTimeS;
            if (!double.IsFinite(d)) continue;
            sum += d;
            any = true;
        }
        return any ? sum : double.NaN;
    }

    static void Row(StringBuilder sb, string label, string a, string b, bool mono = false)
    {
        string open = mono ? "<code>" : "", close = mono ? "</code>" : "";
        sb.Append(Ci, $"<tr><td>{E(label)}</td><td class=\"num\">{open}{E(a)}{close}</td>")
          .Append(Ci, $"<td class=\"num\">{open}{E(b)}{close}</td></tr>\n");
    }

    static string SourceList(IReadOnlyDictionary<string, double> shares) =>
        shares.Count == 0 ? "\u2013" : string.Join(", ", shares.Select(kv => $"{kv.Key} {Percent(kv.Value, "0")}"));

    static string PowerSection(PowerSamples? a, PowerSamples? b, string? note, string nameA, string nameB)
    {
        var sb = new StringBuilder();
        sb.Line("<section id=\"power-timeline\" class=\"card\"><h2>Power timeline "
            + "<span class=\"muted small\">power.csv of each capture (all passes), instantaneous GPU power</span></h2>");
        string chart = SvgCharts.PowerTimeline(a, b, nameA, nameB);
        if (chart.Length == 0)
        {
            sb.Append("<p class=\"note\">Power timeline not shown: ")
              .Append(E(note ?? "the runs' power.csv samples are not available here.")).Line("</p>");
        }
        else
        {
            sb.Line(chart);
            sb.Append("<p class=\"note\">");
            foreach (var (name, p) in new[] { ("A", a), ("B", b) })
            {
                if (p is null || p.Count == 0) { sb.Append(E($"{name}: no samples{(note is null ? "" : " (" + note + ")")}. ")); continue; }
                var watts = Enumerable.Range(0, p.Count).Select(i => SvgCharts.Watts(p, i)).OfType<double>().ToList();
                double span = (p.TimeNs[^1] - p.TimeNs[0]) / 1e9;
                double mean = watts.Count > 0 ? watts.Average() : double.NaN, peak = watts.Count > 0 ? watts.Max() : double.NaN;
                sb.Append(E(string.Create(Ci, $"{name}: {p.Count} samples over {span:0.00} s, mean {mean:0} W, peak {peak:0} W. ")));
            }
            sb.Line("</p>");
        }
        sb.Line("</section>");
        return sb.ToString();
    }

    /// <summary>
    /// Where and when each side was captured (GPU, driver, torch, transformers, date), so a reader sees at once
    /// whether the runs are comparable.
    /// </summary>
    static string Captures(ComparisonReport r)
    {
        if (r.A.Capture is null && r.B.Capture is null) return "";
        static string SideLine(string side, CaptureInfo? c)
        {
            if (c is null) return $"<div><span class=\"side-{side.ToLowerInvariant()}\">{side}</span> capture not described</div>";
            string Or(string? v, string missing) => v is null ? $"<span class=\"muted\">{missing}</span>" : E(v);
            return $"<div><span class=\"side-{side.ToLowerInvariant()}\">{side}</span> {Or(c.Gpu, "GPU not recorded")}"
                   + $" \u00b7 driver {Or(c.Driver, "not recorded")}"
                   + $" \u00b7 torch {Or(c.Torch, "?")} \u00b7 transformers {Or(c.Transformers, "?")}"
                   + $" \u00b7 captured {Or(c.CapturedAt?.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", Ci), "?")}"
                   + (c.Host is null ? "" : $" on {E(c.Host)}") + "</div>";
        }
        return $"<div id=\"captures\" class=\"captures small\">{SideLine("A", r.A.Capture)}{SideLine("B", r.B.Capture)}</div>";
    }
}
