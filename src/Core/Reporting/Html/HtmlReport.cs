using System.Text;
using Magneton.Core.Audits;
using Magneton.Core.Bundles;
using Magneton.Core.Campaigns;
using static Magneton.Core.Reporting.Html.HtmlText;

namespace Magneton.Core.Reporting.Html;

/// <summary>
/// The HTML reports: one self-contained page per report (inline CSS and SVG, no scripts, no external
/// resources), the verdict first, then what a person needs to act on it. Pure functions: the same report and
/// samples give the same page.
/// </summary>
public static class HtmlReport
{
    /// <summary>How many regions the region chart shows (largest energy differences first).</summary>
    public const int ChartRegions = 10;

    /// <summary>How many findings the first screen lists (largest first, as the report orders them); all follow in full below the chart.</summary>
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
        int waste = r.Findings.Count(f => f.Verdict == "waste");
        int trade = r.Findings.Count(f => f.Verdict == "trade-off");
        // Plain profiler traces carry no energy: the page then compares GPU time (the report's own measure).
        bool timeOnly = IsTimeOnly(r);
        var metric = SvgCharts.Metric.For(r, timeOnly);

        sb.Append("<header class=\"top\"><h1>")
          .Append("<span class=\"side-a\">A</span> ").Append(E(r.A.System))
          .Append(" <span class=\"muted\">vs</span> <span class=\"side-b\">B</span> ").Append(E(r.B.System))
          .Append("</h1><div class=\"brand\">Magneton \u00b7 differential energy report</div>")
          .Append(Captures(r)).Line("</header>");

        // 1. Verdict.
        string cls = waste > 0 ? "waste" : trade > 0 ? "trade" : "ok";
        string verdict = waste > 0
            ? $"{waste} energy waste finding{(waste == 1 ? "" : "s")}" + (trade > 0 ? $", {trade} trade-off{(trade == 1 ? "" : "s")}" : "")
            : trade > 0 ? $"No waste; {trade} trade-off{(trade == 1 ? "" : "s")}" : "No operator-level energy waste above the threshold";
        var topFinding = r.Findings.OrderByDescending(f => f.Verdict == "waste").ThenByDescending(f => f.EnergyDeltaJ).FirstOrDefault();
        string sub = topFinding is { } tf
            ? $"{SideName(tf.Wasteful)} spends {Mj(tf.EnergyDeltaJ)} mJ more per iteration ({Percent(tf.ShareOfJob)} of its job, {Ratio(tf.EnergyRatio)} energy) in {tf.Where}: {tf.Cause.Kind} ({tf.Category})."
            : $"Every matched region is within {Percent(r.Threshold, "0")} in energy, or the cheaper side is slower there. Whole job: A {Joules(r.A.IterationEnergyJ)}, B {Joules(r.B.IterationEnergyJ)} per iteration.";
        if (timeOnly)
        {
            cls = r.Findings.Count > 0 ? "trade" : "ok";
            verdict = r.Findings.Count > 0
                ? $"{r.Findings.Count} place{(r.Findings.Count == 1 ? "" : "s")} where one side takes more GPU time"
                : "No matched operator differs in GPU time beyond the threshold";
            var slowest = r.Findings.OrderByDescending(f => TimeDelta(f, regions)).FirstOrDefault();
            sub = (slowest is { } sf
                ? $"{SideName(sf.Wasteful)} takes {metric.Show(TimeDelta(sf, regions))} {metric.Unit} more GPU time in {sf.Where} ({Ratio(sf.TimeRatio)}). "
                : "") + "GPU time only: plain profiler traces carry no energy readings, and values were not compared.";
        }
        if (!r.Comparable)
        {
            cls = "trade";
            verdict = "Not comparable: the two systems do not compute the same thing";
            sub = r.Comparability!.Reason + ". No energy difference between them is a waste claim.";
        }
        sb.Append(Ci, $"<section id=\"verdict\" class=\"verdict {cls}\"><div class=\"label\">VERDICT</div><div><div class=\"text\">{E(verdict)}</div><div class=\"sub\">{E(sub)}</div></div></section>\n");

        // 2. Overview: the findings at a glance, and the energy per iteration of both runs.
        sb.Line("<div class=\"grid2\">");
        sb.Append("<section id=\"findings-summary\" class=\"card\"><h2>Findings <span class=\"muted small\">")
          .Append(timeOnly ? "GPU time difference per step, summed over instances" : "energy difference per iteration, summed over instances").Line("</span></h2>");
        if (r.Findings.Count == 0) sb.Line("<p class=\"muted\">None: no pair of equivalent regions differs beyond the threshold.</p>");
        else
        {
            sb.Line("<ol class=\"flist\">");
            foreach (var f in r.Findings.Take(SummaryFindings))
                sb.Append(Ci, $"<li id=\"finding-title-{f.Id}\"><a href=\"#finding-{f.Id}\">{Badge(f)} <span class=\"where\" title=\"{E(f.Where)}\">{E(Clip(f.Where, 70))}</span> <span class=\"muted\">({f.Instances}\u00d7)</span></a><br>")
                  .Append(timeOnly
                      ? string.Create(Ci, $"<span class=\"small\"><b>+{E(metric.Show(TimeDelta(f, regions)))} {E(metric.Unit)}</b> GPU time \u00b7 {E(Ratio(f.TimeRatio))} GPU time \u00b7 {E(f.Cause.Kind)}</span>")
                      : string.Create(Ci, $"<span class=\"small\"><b>{E(SignedMj(f.EnergyDeltaJ))}</b>/iteration \u00b7 {E(Percent(f.ShareOfJob))} of {SideName(f.Wasteful)}'s job \u00b7 {E(Ratio(f.EnergyRatio))} energy \u00b7 {E(Ratio(f.TimeRatio))} GPU time \u00b7 {E(f.Cause.Kind)}</span>"))
                  .Append(FixLine(f)).Append("</li>\n");
            sb.Line("</ol>");
            if (r.Findings.Count > SummaryFindings) sb.Append(Ci, $"<p class=\"note\">{r.Findings.Count - SummaryFindings} more findings below the chart.</p>\n");
        }
        sb.Line("</section>");
        if (timeOnly)
        {
            sb.Line("<section id=\"energy-split\" class=\"card\"><h2>GPU time per step <span class=\"muted small\">no energy in plain profiler traces</span></h2>");
            sb.Line(SvgCharts.TimeSplit(r.A, r.B));
        }
        else
        {
            sb.Line("<section id=\"energy-split\" class=\"card\"><h2>Energy per iteration <span class=\"muted small\">measured job = operators (GPU) + idle/host</span></h2>");
            sb.Line(SvgCharts.EnergySplit(r.A, r.B));
        }
        sb.Line("</section>");
        sb.Line("</div>");

        // 3. Region chart.
        int shown = Math.Min(ChartRegions, SvgCharts.TopRegions(r, ChartRegions, metric).Count);
        string measure = timeOnly ? "GPU time" : "energy";
        sb.Append(Ci, $"<section id=\"region-chart\" class=\"card\"><h2>Region {measure}, A vs B <span class=\"muted small\">top {shown} of {r.Regions.Count} matched regions by {measure} difference; rows of findings are tinted</span></h2>\n");
        sb.Line(SvgCharts.RegionChart(r, ChartRegions, metric));
        sb.Line("</section>");

        // 4. Findings in full.
        foreach (var f in r.Findings)
            sb.Append(FindingCard(f, "A", "B", r.A.System, r.B.System, regions, timeOnly: timeOnly, metric: metric));

        // 5. Power timeline.
        sb.Line(PowerSection(powerA, powerB, powerNote, r.A.System, r.B.System));

        // 6. Accounting and how far to trust it.
        if (timeOnly)
        {
            sb.Line("<section id=\"accounting\" class=\"card\"><h2>Time per step</h2><table class=\"narrow\">");
            sb.Append(Ci, $"<tr><th></th><th class=\"num\"><span class=\"key a\"></span>A</th><th class=\"num\"><span class=\"key b\"></span>B</th></tr>\n");
            Row(sb, "step wall time", Ms(r.A.IterationTimeS), Ms(r.B.IterationTimeS));
            Row(sb, "operator GPU time", Ms(r.A.GpuTimeS), Ms(r.B.GpuTimeS));
            Row(sb, "operators", r.A.Operators.ToString(Ci), r.B.Operators.ToString(Ci));
            Row(sb, "trace", r.A.Bundle, r.B.Bundle, mono: true);
            sb.Line("</table>");
            sb.Append(Ci, $"<p class=\"note\">Energy sources: {E(r.EnergyModel.Sources)}. {E(r.EnergyModel.Description)}</p>\n");
            sb.Line("</section>");
        }
        else
        {
            sb.Line("<section id=\"accounting\" class=\"card\"><h2>Energy accounting per iteration</h2><table class=\"narrow\">");
            sb.Append(Ci, $"<tr><th></th><th class=\"num\"><span class=\"key a\"></span>A</th><th class=\"num\"><span class=\"key b\"></span>B</th></tr>\n");
            Row(sb, "measured job energy (uninstrumented baseline)", Joules(r.A.IterationEnergyJ), Joules(r.B.IterationEnergyJ));
            Row(sb, "iteration time", Ms(r.A.IterationTimeS), Ms(r.B.IterationTimeS));
            Row(sb, "operator GPU energy", Joules(r.A.GpuEnergyJ), Joules(r.B.GpuEnergyJ));
            Row(sb, "operator GPU time", Ms(r.A.GpuTimeS), Ms(r.B.GpuTimeS));
            Row(sb, "idle/host energy (idle power \u00d7 time the GPU ran nothing)", Signed(r.A.IdleEnergyJ) + " J", Signed(r.B.IdleEnergyJ) + " J");
            Row(sb, "unexplained (measured \u2212 operators \u2212 idle/host)", $"{Signed(r.A.UnexplainedJ)} \u00b1 {r.A.UnexplainedSigmaJ.ToString("0.000", Ci)} J",
                $"{Signed(r.B.UnexplainedJ)} \u00b1 {r.B.UnexplainedSigmaJ.ToString("0.000", Ci)} J");
            Row(sb, "operator energy by source", SourceList(r.A.EnergySources), SourceList(r.B.EnergySources));
            Row(sb, "operator energy from replay", Percent(r.A.ReplayShare, "0"), Percent(r.B.ReplayShare, "0"));
            Row(sb, "model closure (operators + idle/host) / measured", Percent(r.A.Closure, "0"), Percent(r.B.Closure, "0"));
            Row(sb, "idle power / energy-pass timeline power", $"{r.A.IdlePowerW.ToString("0", Ci)} W / {r.A.TimelinePowerW.ToString("0", Ci)} W",
                $"{r.B.IdlePowerW.ToString("0", Ci)} W / {r.B.TimelinePowerW.ToString("0", Ci)} W");
            Row(sb, "operators", r.A.Operators.ToString(Ci), r.B.Operators.ToString(Ci));
            Row(sb, "bundle", r.A.Bundle, r.B.Bundle, mono: true);
            sb.Line("</table>");
            sb.Append(Ci, $"<p class=\"note\">Energy sources: {E(r.EnergyModel.Sources)}. {E(r.EnergyModel.Description)}</p>\n");
            sb.Line("</section>");
        }

        sb.Line("<section id=\"matching\" class=\"card\"><h2>Matching</h2>");
        sb.Append(Ci, $"<p>{r.Matching.Regions} regions ({E(r.Matching.Mode)}), {r.Matching.CutPoints} cut points, {r.Matching.EquivalentValues} equivalent values; coverage A {E(Percent(r.Matching.ACoverage, "0"))}, B {E(Percent(r.Matching.BCoverage, "0"))}; {r.Matching.ElapsedMs.ToString("0", Ci)} ms. Threshold {E(Percent(r.Threshold, "0.#"))}.</p>\n");
        if (r.Unmatched.A.Count + r.Unmatched.B.Count > 0)
        {
            sb.Line("<div class=\"cols\">");
            foreach (var (name, list) in new[] { ("A", r.Unmatched.A), ("B", r.Unmatched.B) })
            {
                sb.Append(Ci, $"<div><h4>Unmatched in {name} ({list.Count})</h4>");
                if (list.Count == 0) { sb.Line("<p class=\"muted small\">none</p></div>"); continue; }
                sb.Append("<table><tr><th>operator</th><th class=\"num\">count</th><th class=\"num\">energy</th></tr>");
                foreach (var u in list.OrderByDescending(u => u.EnergyJ).Take(15))
                    sb.Append(Ci, $"<tr><td><code>{E(u.Op)}</code></td><td class=\"num\">{u.Count}</td><td class=\"num\">{E(Joules(u.EnergyJ))}</td></tr>");
                sb.Append("</table>");
                if (list.Count > 15) sb.Append(Ci, $"<p class=\"note\">{list.Count - 15} more in the JSON report.</p>");
                sb.Line("</div>");
            }
            sb.Line("</div>");
        }
        if (r.Notes.Count > 0)
        {
            sb.Append("<h4>Notes</h4><ul class=\"small\">");
            foreach (var n in r.Notes) sb.Append("<li>").Append(E(n)).Append("</li>");
            sb.Line("</ul>");
        }
        sb.Line("</section>");
        sb.Append(Ci, $"<footer>{E(r.Schema)} \u00b7 A: {E(r.A.Bundle)} \u00b7 B: {E(r.B.Bundle)}</footer>\n");
        return HtmlPage.Wrap($"Magneton: {r.A.System} vs {r.B.System}", sb.ToString());
    }

    /// <summary>What to change, on one line: the differing configuration keys, else the fix's first sentence.</summary>
    static string FixLine(FindingReport f)
    {
        if (f.Cause.Config.Count > 0)
        {
            string keys = string.Join("; ", f.Cause.Config.Take(3).Select(c => $"<code>{E(c.Key)}</code>: A <code>{E(c.A ?? "unset")}</code>, B <code>{E(c.B ?? "unset")}</code>"));
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
            double d = f.Wasteful == "a" ? x.A.GpuTimeS - x.B.GpuTimeS : x.B.GpuTimeS - x.A.GpuTimeS;
            if (!double.IsFinite(d)) continue;
            sum += d;
            any = true;
        }
        return any ? sum : double.NaN;
    }

    static string SideName(string side) => side == "a" ? "A" : side == "b" ? "B" : side;

    static string Badge(FindingReport f, string sideA = "A", string sideB = "B") =>
        $"<span class=\"badge {(f.Verdict == "waste" ? "waste" : "trade-off")}\">{E(f.Verdict.ToUpperInvariant())} in {E(f.Wasteful == "a" ? sideA : f.Wasteful == "b" ? sideB : f.Wasteful)}</span>";

    static void Row(StringBuilder sb, string label, string a, string b, bool mono = false)
    {
        string open = mono ? "<code>" : "", close = mono ? "</code>" : "";
        sb.Append(Ci, $"<tr><td>{E(label)}</td><td class=\"num\">{open}{E(a)}{close}</td><td class=\"num\">{open}{E(b)}{close}</td></tr>\n");
    }

    /// <summary>
    /// One finding: what, where, how much, the explanation, what to change, then the evidence side by side
    /// (operator chains of its regions, kernels, module classes and source lines).
    /// </summary>
    static string FindingCard(FindingReport f, string sideA, string sideB, string systemA, string systemB,
        IReadOnlyDictionary<int, RegionReport>? regions, string idPrefix = "", bool timeOnly = false, SvgCharts.Metric? metric = null)
    {
        var sb = new StringBuilder();
        string wastefulName = f.Wasteful == "a" ? sideA : sideB;
        sb.Append(Ci, $"<article class=\"card finding {(f.Verdict == "waste" ? "waste" : "trade-off")}\" id=\"{E(idPrefix)}finding-{f.Id}\">");
        sb.Append(Ci, $"<h3>[{f.Id}] {Badge(f, sideA, sideB)} <span class=\"where\">{E(f.Where)}</span> <span class=\"muted small\">{f.Instances} instance{(f.Instances == 1 ? "" : "s")}{(f.Sites.Count > 1 ? $" at {f.Sites.Count} sites" : "")} \u00b7 {E(f.Category)}</span></h3>\n");
        sb.Append("<div class=\"tiles\">");
        if (timeOnly && regions is not null && metric is not null)
            Tile(sb, "+" + metric.Show(TimeDelta(f, regions)) + " " + metric.Unit, "GPU time per step, " + wastefulName + " over the other");
        if (double.IsFinite(f.EnergyDeltaJ)) Tile(sb, SignedMj(f.EnergyDeltaJ), "per iteration, " + wastefulName + " over the other");
        if (double.IsFinite(f.ShareOfJob)) Tile(sb, Percent(f.ShareOfJob), "of " + wastefulName + "'s measured job");
        if (double.IsFinite(f.EnergyRatio)) Tile(sb, Ratio(f.EnergyRatio), "energy");
        Tile(sb, Ratio(f.TimeRatio), "GPU time");
        Tile(sb, f.Cause.Kind, "cause");
        if (f.EnergySource.Length > 0) Tile(sb, f.EnergySource, "energy source");
        sb.Line("</div>");
        sb.Append("<p class=\"explanation\">").Append(E(f.Explanation)).Line("</p>");
        if (f.Sites.Count > 1)
        {
            const int ShownSites = 12;
            sb.Append(Ci, $"<h4>Sites \u00b7 {f.Sites.Count}, summed above</h4><table><tr><th>where</th><th>regions</th><th>mJ per iteration</th><th>of the job</th></tr>");
            foreach (var x in f.Sites.Take(ShownSites))
                sb.Append(Ci, $"<tr><td><code>{E(x.Where)}</code></td><td>{x.Regions.Count}</td><td>{E(SignedMj(x.EnergyDeltaJ))}</td><td>{E(Percent(x.ShareOfJob))}</td></tr>");
            sb.Line("</table>");
            if (f.Sites.Count > ShownSites) sb.Append(Ci, $"<p class=\"note\">{f.Sites.Count - ShownSites} more sites in the JSON report.</p>");
        }

        // What to change.
        sb.Append("<div class=\"fix\"><h4>What to change</h4>");
        if (f.Cause.Suggestion.Length > 0) sb.Append("<p style=\"margin:0 0 4px\">").Append(E(f.Cause.Suggestion)).Append("</p>");
        if (f.Cause.EfficientOps.Count > 0)
            sb.Append("<p class=\"small\" style=\"margin:0 0 4px\">Efficient operators: ").Append(string.Join(", ", f.Cause.EfficientOps.Select(o => $"<code>{E(o)}</code>"))).Append("</p>");
        if (f.Cause.Config.Count > 0)
        {
            sb.Append(Ci, $"<table><tr><th>configuration key</th><th>{E(sideA)}</th><th>{E(sideB)}</th></tr>");
            foreach (var c in f.Cause.Config)
                sb.Append(Ci, $"<tr><td><code>{E(c.Key)}</code></td><td><code>{E(c.A ?? "unset")}</code></td><td><code>{E(c.B ?? "unset")}</code></td></tr>");
            sb.Append("</table>");
        }
        else sb.Append("<p class=\"note\">No configuration key differs between the runs here.</p>");
        sb.Line("</div>");

        // Operator chains of the finding's regions, one block per distinct pair of chains.
        if (regions is not null)
        {
            var found = f.Regions.Where(regions.ContainsKey).Select(id => regions[id]).ToList();
            var groups = found.GroupBy(x => string.Join('\n', x.A.Ops) + "\u0000" + string.Join('\n', x.B.Ops)).ToList();
            foreach (var g in groups.Take(3))
            {
                var first = g.First();
                var others = g.Skip(1).Select(x => x.Id).ToList();
                sb.Append(Ci, $"<h4>Operator chains \u00b7 region {first.Id}{(others.Count > 0 ? $" (same chains in region{(others.Count == 1 ? "" : "s")} {string.Join(", ", others)})" : "")}</h4>");
                sb.Append("<div class=\"cols\">");
                sb.Append(Chain(sideA, systemA, first.A, f.Wasteful == "a", "a"));
                sb.Append(Chain(sideB, systemB, first.B, f.Wasteful == "b", "b"));
                sb.Line("</div>");
            }
            if (groups.Count > 3) sb.Append(Ci, $"<p class=\"note\">{groups.Count - 3} more distinct chains in the JSON report.</p>");
        }

        // Kernels, marking those only one side launches.
        if (f.Cause.Kernels.A.Count + f.Cause.Kernels.B.Count > 0)
        {
            sb.Append("<h4>Kernels</h4><div class=\"cols\">");
            foreach (var (name, mine, theirs) in new[] { (sideA, f.Cause.Kernels.A, f.Cause.Kernels.B), (sideB, f.Cause.Kernels.B, f.Cause.Kernels.A) })
            {
                sb.Append(Ci, $"<div><div class=\"small muted\">{E(name)}: {mine.Count} kernel{(mine.Count == 1 ? "" : "s")}</div><ul class=\"kernels\">");
                foreach (var k in mine.Take(12))
                {
                    bool only = !theirs.Contains(k);
                    sb.Append(Ci, $"<li><details><summary><code class=\"{(only ? "only" : "")}\">{E(ShortKernel(k))}</code>{(only ? $" <span class=\"muted small\">only in {E(name)}</span>" : "")}</summary><div class=\"full\">{E(k)}</div></details></li>");
                }
                sb.Append("</ul>");
                if (mine.Count > 12) sb.Append(Ci, $"<p class=\"note\">{mine.Count - 12} more in the JSON report.</p>");
                sb.Append("</div>");
            }
            sb.Line("</div>");
        }

        // Module classes and source lines.
        bool anyClasses = f.Cause.Classes.A.Count + f.Cause.Classes.B.Count > 0;
        var srcA = f.Cause.SourceLines.A.Count > 0 ? f.Cause.SourceLines.A : f.Cause.Source.A;
        var srcB = f.Cause.SourceLines.B.Count > 0 ? f.Cause.SourceLines.B : f.Cause.Source.B;
        if (anyClasses || srcA.Count + srcB.Count > 0)
        {
            sb.Append("<h4>Module classes and source lines</h4><div class=\"cols\">");
            foreach (var (name, classes, src) in new[] { (sideA, f.Cause.Classes.A, srcA), (sideB, f.Cause.Classes.B, srcB) })
            {
                sb.Append(Ci, $"<div><div class=\"small muted\">{E(name)}</div>");
                foreach (var c in classes.Take(4)) sb.Append("<div><code>").Append(E(c)).Append("</code></div>");
                foreach (var line in src.Take(4)) sb.Append("<pre class=\"src\">").Append(E(line)).Append("</pre>");
                if (classes.Count == 0 && src.Count == 0) sb.Append("<p class=\"note\">none recorded</p>");
                sb.Append("</div>");
            }
            sb.Line("</div>");
        }
        sb.Line("</article>");
        return sb.ToString();
    }

    static void Tile(StringBuilder sb, string value, string caption) =>
        sb.Append("<div class=\"tile\"><b>").Append(E(value)).Append("</b><span>").Append(E(caption)).Append("</span></div>");

    static string SourceList(IReadOnlyDictionary<string, double> shares) =>
        shares.Count == 0 ? "\u2013" : string.Join(", ", shares.Select(kv => $"{kv.Key} {Percent(kv.Value, "0")}"));

    static string Chain(string side, string system, RegionSideReport s, bool wasteful, string cls)
    {
        const int max = 40;
        var sb = new StringBuilder();
        sb.Append(Ci, $"<div class=\"chainbox{(wasteful ? " wasteful" : "")}\"><h5><span class=\"key {cls}\"></span>{E(side)} \u00b7 {E(system)}");
        string energy = double.IsFinite(s.EnergyJ) ? Joules(s.EnergyJ) + ", " : "";
        sb.Append(Ci, $" <span class=\"muted small\">{E(energy)}{E(Us(s.GpuTimeS))}, {s.Ops.Count} op{(s.Ops.Count == 1 ? "" : "s")} ({E(s.EnergySource)})</span></h5>");
        if (s.Modules.Count > 0) sb.Append("<div class=\"small muted\">").Append(E(string.Join(", ", s.Modules.Take(4)))).Append("</div>");
        sb.Append("<ol class=\"chain\">");
        foreach (var op in s.Ops.Take(max)) sb.Append("<li>").Append(E(op)).Append("</li>");
        sb.Append("</ol>");
        if (s.Ops.Count > max) sb.Append(Ci, $"<p class=\"note\">{s.Ops.Count - max} more operators in the JSON report.</p>");
        sb.Append("</div>");
        return sb.ToString();
    }

    static string PowerSection(PowerSamples? a, PowerSamples? b, string? note, string nameA, string nameB)
    {
        var sb = new StringBuilder();
        sb.Line("<section id=\"power-timeline\" class=\"card\"><h2>Power timeline <span class=\"muted small\">power.csv of each capture (all passes), instantaneous GPU power</span></h2>");
        string chart = SvgCharts.PowerTimeline(a, b, nameA, nameB);
        if (chart.Length == 0)
        {
            sb.Append("<p class=\"note\">Power timeline not shown: ").Append(E(note ?? "the runs' power.csv samples are not available here.")).Line("</p>");
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
                sb.Append(E(string.Create(Ci, $"{name}: {p.Count} samples over {span:0.00} s, mean {(watts.Count > 0 ? watts.Average() : double.NaN):0} W, peak {(watts.Count > 0 ? watts.Max() : double.NaN):0} W. ")));
            }
            sb.Line("</p>");
        }
        sb.Line("</section>");
        return sb.ToString();
    }

    /// <summary>A campaign report as a page: the verdict, the versions against the baseline (chart and table), recurring causes, regressions, each version's findings.</summary>
    public static string RenderCampaign(CampaignReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var r = report;
        var sb = new StringBuilder();
        sb.Append("<header class=\"top\"><h1>Campaign: ").Append(r.Versions.Count.ToString(Ci)).Append(" version(s) against ")
          .Append(E(r.Baseline.System.Length > 0 ? r.Baseline.System : r.Baseline.Bundle)).Line("</h1><div class=\"brand\">Magneton \u00b7 campaign report</div></header>");

        var wasteful = r.Versions.Where(v => v.WasteInVersion > 0).ToList();
        var failed = r.Versions.Where(v => v.Error is not null).ToList();
        string cls = wasteful.Count > 0 || r.Regressions.Count > 0 ? "waste" : failed.Count > 0 ? "trade" : "ok";
        string verdict = wasteful.Count > 0
            ? $"{wasteful.Count} of {r.Versions.Count} version(s) waste energy against the baseline"
            : "No version wastes energy against the baseline";
        string sub = $"{r.Regressions.Count} regression(s), {r.RecurringCauses.Count} recurring cause(s)"
            + (failed.Count > 0 ? $", {failed.Count} version(s) failed" : "")
            + $"; baseline {Joules(r.Baseline.IterationEnergyJ)} per iteration; threshold {Percent(r.Threshold, "0.#")}.";
        sb.Append(Ci, $"<section id=\"verdict\" class=\"verdict {cls}\"><div class=\"label\">VERDICT</div><div><div class=\"text\">{E(verdict)}</div><div class=\"sub\">{E(sub)}</div></div></section>\n");

        var rows = new List<(string, double, string, string)> { ("baseline: " + r.Baseline.System, r.Baseline.IterationEnergyJ, "#8a93a5", Joules(r.Baseline.IterationEnergyJ)) };
        foreach (var v in r.Versions)
        {
            string label = $"{v.Index}: {(v.Run?.System ?? v.Bundle)}";
            if (v.Run is null) { rows.Add((label, double.NaN, "#8a93a5", "failed: " + (v.Error ?? "?"))); continue; }
            string color = v.WasteInVersion > 0 ? SvgCharts.ColorWaste : SvgCharts.ColorA;
            rows.Add((label, v.Run.IterationEnergyJ, color, $"{Joules(v.Run.IterationEnergyJ)} \u00b7 {Ratio3(v.EnergyRatio)} baseline \u00b7 waste {v.WasteInVersion}/{v.WasteInBaseline}"));
        }
        sb.Line("<section id=\"campaign-chart\" class=\"card\"><h2>Energy per iteration by version <span class=\"muted small\">red: the version has waste the baseline has not; dashed: the baseline</span></h2>");
        sb.Line(SvgCharts.Bars("campaign-chart-svg", "Energy per iteration of each version against the baseline", rows, r.Baseline.IterationEnergyJ, "baseline", "J per iteration"));
        sb.Line("</section>");

        sb.Line("<section id=\"versions\" class=\"card\"><h2>Versions</h2><table>");
        sb.Line("<tr><th class=\"num\">#</th><th>system</th><th class=\"num\">J/iteration</th><th class=\"num\">vs baseline</th><th class=\"num\">time vs baseline</th><th class=\"num\">waste in version / baseline</th><th>top finding</th></tr>");
        foreach (var v in r.Versions)
        {
            if (v.Run is null)
            {
                sb.Append(Ci, $"<tr class=\"hl\"><td class=\"num\">{v.Index}</td><td><code>{E(v.Bundle)}</code></td><td colspan=\"5\">failed: {E(v.Error)}</td></tr>\n");
                continue;
            }
            var top = v.Findings.Where(f => f.Verdict == "waste" && f.Wasteful == "b").OrderByDescending(f => f.EnergyDeltaJ).FirstOrDefault();
            sb.Append(Ci, $"<tr{(v.WasteInVersion > 0 ? " class=\"hl\"" : "")}><td class=\"num\">{v.Index}</td><td>{E(v.Run.System)}<div class=\"small muted\"><code>{E(v.Bundle)}</code></div></td>")
              .Append(Ci, $"<td class=\"num\">{E(Joules(v.Run.IterationEnergyJ))}</td><td class=\"num\">{E(Ratio3(v.EnergyRatio))}</td><td class=\"num\">{E(Ratio3(v.TimeRatio))}</td>")
              .Append(Ci, $"<td class=\"num\">{v.WasteInVersion} / {v.WasteInBaseline}</td><td>{(top is null ? "" : $"<a href=\"#v{v.Index}-finding-{top.Id}\"><code>{E(top.Where)}</code></a> ({E(top.Cause.Kind)}, {E(Ratio(top.EnergyRatio))})")}</td></tr>\n");
        }
        sb.Line("</table></section>");

        if (r.RecurringCauses.Count + r.Regressions.Count > 0)
        {
            sb.Line("<section id=\"recurring\" class=\"card\"><h2>Recurring causes and regressions</h2>");
            if (r.RecurringCauses.Count > 0)
            {
                sb.Append("<table><tr><th>cause</th><th>where</th><th>waste in</th><th>versions</th><th class=\"num\">mean energy ratio</th></tr>");
                foreach (var c in r.RecurringCauses)
                    sb.Append(Ci, $"<tr><td>{E(c.Kind)}</td><td><code>{E(c.Where)}</code></td><td>{(c.Wasteful == "b" ? "the version" : "the baseline")}</td><td>{E(string.Join(", ", c.Versions))}</td><td class=\"num\">{E(Ratio(c.MeanEnergyRatio))}</td></tr>");
                sb.Line("</table>");
            }
            if (r.Regressions.Count > 0)
            {
                sb.Append("<h4>Regressions</h4><ul>");
                foreach (var g in r.Regressions)
                    sb.Append(Ci, $"<li>version {g.From} \u2192 {g.To}: energy {E(Ratio3(g.EnergyRatio))}{(g.NewFindings.Count > 0 ? "; new: " + E(string.Join("; ", g.NewFindings)) : "")}</li>");
                sb.Line("</ul>");
            }
            sb.Line("</section>");
        }

        foreach (var v in r.Versions.Where(v => v.Findings.Count > 0))
        {
            sb.Append(Ci, $"<h2 style=\"font-size:16px;margin:18px 0 0\">Version {v.Index}: {E(v.Run?.System ?? v.Bundle)} <span class=\"muted small\">(A = baseline, B = this version)</span></h2>\n");
            foreach (var f in v.Findings)
                sb.Append(FindingCard(f, "baseline", "version", r.Baseline.System, v.Run?.System ?? v.Bundle, null, $"v{v.Index}-"));
        }
        sb.Append(Ci, $"<footer>{E(r.Schema)} \u00b7 baseline: {E(r.Baseline.Bundle)} (run {E(r.Baseline.RunId)})</footer>\n");
        return HtmlPage.Wrap($"Magneton campaign: {r.Baseline.System}", sb.ToString());
    }

    /// <summary>Where and when each side was captured (GPU, driver, torch, transformers, date), so a reader sees at once whether the runs are comparable.</summary>
    static string Captures(ComparisonReport r)
    {
        if (r.A.Capture is null && r.B.Capture is null) return "";
        static string SideLine(string side, CaptureInfo? c)
        {
            if (c is null) return $"<div><span class=\"side-{side.ToLowerInvariant()}\">{side}</span> capture not described</div>";
            string Or(string? v, string missing) => v is null ? $"<span class=\"muted\">{missing}</span>" : E(v);
            return $"<div><span class=\"side-{side.ToLowerInvariant()}\">{side}</span> {Or(c.Gpu, "GPU not recorded")} \u00b7 driver {Or(c.Driver, "not recorded")}"
                   + $" \u00b7 torch {Or(c.Torch, "?")} \u00b7 transformers {Or(c.Transformers, "?")}"
                   + $" \u00b7 captured {Or(c.CapturedAt?.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", Ci), "?")}"
                   + (c.Host is null ? "" : $" on {E(c.Host)}") + "</div>";
        }
        return $"<div id=\"captures\" class=\"captures small\">{SideLine("A", r.A.Capture)}{SideLine("B", r.B.Capture)}</div>";
    }

    /// <summary>An audit report as a page: the verdict, each node's iteration energy against the median, the outliers with their differences and findings.</summary>
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
        string sub = $"median {Joules(r.MedianEnergyJ)} per iteration, MAD {Joules(r.MadEnergyJ)}; typical node {r.NodeName(r.TypicalNode)}; outlier score above {AuditAnalysis.OutlierScore.ToString("0.0", Ci)}.";
        sb.Append(Ci, $"<section id=\"verdict\" class=\"verdict {cls}\"><div class=\"label\">VERDICT</div><div><div class=\"text\">{E(verdict)}</div><div class=\"sub\">{E(sub)}</div></div></section>\n");

        var rows = r.Nodes.Select(n => ($"{n.Index}: {n.Host}", n.IterationEnergyJ,
            n.Outlier ? SvgCharts.ColorWaste : n.Index == r.TypicalNode ? SvgCharts.ColorB : SvgCharts.ColorA,
            $"{Joules(n.IterationEnergyJ)} \u00b7 score {n.EnergyScore.ToString("0.00", Ci)}{(n.Outlier ? " \u00b7 OUTLIER" : n.Index == r.TypicalNode ? " \u00b7 typical" : "")}")).ToList();
        sb.Line("<section id=\"audit-chart\" class=\"card\"><h2>Energy per iteration by node <span class=\"muted small\">red: outlier; orange: the typical node; dashed: the median</span></h2>");
        sb.Line(SvgCharts.Bars("audit-chart-svg", "Energy per iteration of each node against the median", rows, r.MedianEnergyJ, "median", "J per iteration"));
        sb.Line("</section>");

        sb.Line("<section id=\"nodes\" class=\"card\"><h2>Nodes</h2><table>");
        sb.Line("<tr><th class=\"num\">#</th><th>host</th><th>GPU</th><th>driver</th><th class=\"num\">power limit</th><th class=\"num\">J/iteration</th><th class=\"num\">s/iteration</th><th class=\"num\">score</th></tr>");
        foreach (var n in r.Nodes)
            sb.Append(Ci, $"<tr{(n.Outlier ? " class=\"hl\"" : "")}><td class=\"num\">{n.Index}</td><td>{E(n.Host)}<div class=\"small muted\"><code>{E(n.Bundle)}</code></div></td><td>{E(n.Gpu ?? "?")}</td><td>{E(n.Driver ?? "?")}</td>")
              .Append(Ci, $"<td class=\"num\">{(n.PowerLimitW is { } pl ? pl.ToString("0", Ci) + " W" : "?")}</td><td class=\"num\">{E(Joules(n.IterationEnergyJ))}</td><td class=\"num\">{E(Ms(n.IterationTimeS))}</td><td class=\"num\">{n.EnergyScore.ToString("0.00", Ci)}{(n.Outlier ? " <b>outlier</b>" : n.Index == r.TypicalNode ? " typical" : "")}</td></tr>\n");
        sb.Line("</table></section>");

        var typical = r.Nodes.FirstOrDefault(n => n.Index == r.TypicalNode);
        foreach (var o in r.Outliers)
        {
            var node = r.Nodes.FirstOrDefault(n => n.Index == o.Node);
            sb.Append(Ci, $"<section class=\"card\" id=\"outlier-{o.Node}\"><h2>Node {E(r.NodeName(o.Node))}: {E(Ratio3(o.EnergyRatio))} the typical node's energy, {E(Ratio3(o.TimeRatio))} its time</h2>\n");
            if (o.NodeDifferences.Count > 0)
            {
                sb.Append("<table><tr><th>difference</th><th>typical node</th><th>this node</th></tr>");
                foreach (var d in o.NodeDifferences)
                    sb.Append(Ci, $"<tr><td>{E(d.Key)}</td><td><code>{E(d.A ?? "?")}</code></td><td><code>{E(d.B ?? "?")}</code></td></tr>");
                sb.Line("</table>");
            }
            else sb.Line("<p class=\"note\">GPU, driver and power limit are the same as on the typical node.</p>");
            if (o.NodeDifferences.Count == 0 && !o.Findings.Any(f => f.Verdict == "waste"))
                sb.Line("<p>No operator-level cause: the difference is outside the matched operators (host, idle, clocks).</p>");
            sb.Line("</section>");
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
}
