using System.Text;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Reporting;
using static Magneton.Core.Rendering.Html.HtmlText;

namespace Magneton.Core.Rendering.Html;

/// <summary>Inline SVG charts. Pure functions of the report data; every label is HTML-encoded.</summary>
internal static class SvgCharts
{
    internal const string ColorA = "#2563c9", ColorB = "#e07b00", ColorWaste = "#c0262d", ColorTrade = "#a86400", Muted = "#5d6778";

    /// <summary>
    /// What the region chart measures: energy per iteration (mJ), or, for reports without energy (plain profiler
    /// traces), GPU time per step (in µs or ms, whichever reads better).
    /// </summary>
    internal sealed record Metric(Func<RegionSideReport, double> Value, double Scale, string Unit, string Format, string What, string More)
    {
        internal static readonly Metric Energy = new(s => s.EnergyJ, 1000, "mJ", "0.0", "energy per iteration", "spends more");

        internal static Metric For(ComparisonReport r, bool timeOnly)
        {
            if (!timeOnly) return Energy;
            double max = r.Regions.Select(x => Math.Max(x.A.GpuTimeS, x.B.GpuTimeS)).Where(double.IsFinite).DefaultIfEmpty(0).Max();
            return max < 1e-3
                ? new(s => s.GpuTimeS, 1e6, "\u00b5s", "0.0", "GPU time per step", "takes longer")
                : new(s => s.GpuTimeS, 1e3, "ms", "0.000", "GPU time per step", "takes longer");
        }

        internal string Show(double v) => double.IsFinite(v) ? (v * Scale).ToString(Format, Ci) : "n/a";
    }

    /// <summary>The regions shown in the chart: the top ones by absolute difference of the metric.</summary>
    internal static List<RegionReport> TopRegions(ComparisonReport r, int top, Metric? metric = null)
    {
        var m = metric ?? Metric.Energy;
        return r.Regions.Where(x => Math.Max(m.Value(x.A), m.Value(x.B)) > 0 && double.IsFinite(m.Value(x.A)) && double.IsFinite(m.Value(x.B)))
            .OrderByDescending(x => Math.Abs(m.Value(x.A) - m.Value(x.B))).ThenBy(x => x.Id)
            .Take(top).ToList();
    }

    /// <summary>The name a person recognises a region by: its module (both sides agree when matched), else its operators.</summary>
    internal static string RegionLabel(RegionReport x)
    {
        var module = x.A.Modules.Concat(x.B.Modules).FirstOrDefault(m => m.Length > 0);
        if (module is not null) return module;
        var op = x.A.Ops.Concat(x.B.Ops).FirstOrDefault();
        return op ?? $"region {x.Id}";
    }

    /// <summary>
    /// Region energy per iteration, A against B, for the regions with the largest differences: paired bars on one
    /// scale (mJ per iteration, values printed), and the difference A - B as a diverging bar on its own scale, so
    /// a small region with a large relative waste stays visible beside a large region.
    /// </summary>
    internal static string RegionChart(ComparisonReport r, int top = 10, Metric? metric = null)
    {
        var m = metric ?? Metric.Energy;
        var rows = TopRegions(r, top, m);
        if (rows.Count == 0) return $"<p class=\"note\">No region has a measured {E(m.What)} on either side.</p>";
        var findingOf = new Dictionary<int, FindingReport>();
        foreach (var f in r.Findings)
            foreach (var id in f.Regions) findingOf.TryAdd(id, f);

        const double width = 1200, header = 26, rowH = 31;
        const double labelX = 4, barX = 322, barW = 370, deltaX = 790, deltaW = 290, deltaTextX = 1196;
        double height = header + rows.Count * rowH + 6;
        double maxE = rows.Max(x => Math.Max(m.Value(x.A), m.Value(x.B)));
        double posMax = Math.Max(0, rows.Max(x => m.Value(x.A) - m.Value(x.B)));
        double negMax = Math.Max(0, rows.Max(x => m.Value(x.B) - m.Value(x.A)));
        double span = posMax + negMax;
        if (span <= 0) span = 1;
        double zeroX = deltaX + deltaW * (negMax / span);

        var sb = new StringBuilder();
        sb.Append(Ci, $"<svg id=\"region-chart-svg\" role=\"img\" viewBox=\"0 0 {N(width)} {N(height)}\" width=\"{N(width)}\" height=\"{N(height)}\" xmlns=\"http://www.w3.org/2000/svg\" fill=\"#1b2130\">");
        sb.Append("<title>Region {E(m.What)}, A vs B, top regions by difference</title>");
        // Header: column names and the legend.
        sb.Append(Ci, $"<text x=\"{N(labelX)}\" y=\"16\" font-size=\"12\" fill=\"{Muted}\">region (module, region id)</text>");
        sb.Append(Ci, $"<rect x=\"{N(barX)}\" y=\"7\" width=\"11\" height=\"11\" rx=\"2\" fill=\"{ColorA}\"/><text x=\"{N(barX + 15)}\" y=\"16\" font-size=\"12\">A</text>");
        sb.Append(Ci, $"<rect x=\"{N(barX + 34)}\" y=\"7\" width=\"11\" height=\"11\" rx=\"2\" fill=\"{ColorB}\"/><text x=\"{N(barX + 49)}\" y=\"16\" font-size=\"12\">B</text>");
        sb.Append(Ci, $"<text x=\"{N(barX + 70)}\" y=\"16\" font-size=\"12\" fill=\"{Muted}\">{E(m.What)}, {E(m.Unit)}</text>");
        sb.Append(Ci, $"<text x=\"{N(deltaX)}\" y=\"16\" font-size=\"12\" fill=\"{Muted}\">difference A \u2212 B, {E(m.Unit)} (bar to the right: A {E(m.More)})</text>");
        sb.Append(Ci, $"<line x1=\"{N(zeroX)}\" y1=\"{N(header - 2)}\" x2=\"{N(zeroX)}\" y2=\"{N(height - 2)}\" stroke=\"#9aa3b2\" stroke-width=\"1\"/>");

        for (int i = 0; i < rows.Count; i++)
        {
            var x = rows[i];
            double y = header + i * rowH;
            findingOf.TryGetValue(x.Id, out var f);
            if (f is not null)
                sb.Append(Ci, $"<rect x=\"0\" y=\"{N(y + 1)}\" width=\"{N(width)}\" height=\"{N(rowH - 2)}\" rx=\"4\" fill=\"{(f.Verdict == Verdict.Waste ? "#fdecec" : "#fdf3e1")}\"/>");
            else if (i % 2 == 1)
                sb.Append(Ci, $"<rect x=\"0\" y=\"{N(y + 1)}\" width=\"{N(width)}\" height=\"{N(rowH - 2)}\" rx=\"4\" fill=\"#f7f8fa\"/>");

            string label = RegionLabel(x);
            string prefix = f is null ? "" : $"[{f.Id}] ";
            int room = 40 - prefix.Length;
            sb.Append(Ci, $"<g><title>{E(label)} (region {x.Id}): A {E(string.Join(", ", x.A.Ops))}; B {E(string.Join(", ", x.B.Ops))}</title>");
            sb.Append(Ci, $"<text x=\"{N(labelX)}\" y=\"{N(y + 14)}\" font-size=\"12.5\" font-weight=\"600\">");
            if (f is not null) sb.Append(Ci, $"<tspan fill=\"{(f.Verdict == Verdict.Waste ? ColorWaste : ColorTrade)}\">{E(prefix)}</tspan>");
            sb.Append(E(Clip(label, room))).Append("</text>");
            string ops = $"#{x.Id} \u00b7 A {OpsSummary(x.A.Ops)} \u00b7 B {OpsSummary(x.B.Ops)}";
            sb.Append(Ci, $"<text x=\"{N(labelX)}\" y=\"{N(y + 27)}\" font-size=\"11\" fill=\"{Muted}\">{E(Clip(ops, 56))}</text></g>");

            foreach (var (side, e, color, dy) in new[] { ("A", m.Value(x.A), ColorA, 5.0), ("B", m.Value(x.B), ColorB, 16.0) })
            {
                double w = maxE > 0 ? Math.Max(e > 0 ? 1 : 0, barW * e / maxE) : 0;
                sb.Append(Ci, $"<rect x=\"{N(barX)}\" y=\"{N(y + dy)}\" width=\"{N(w)}\" height=\"10\" rx=\"2\" fill=\"{color}\"><title>{side}: {m.Show(e)} {E(m.Unit)}</title></rect>");
                sb.Append(Ci, $"<text x=\"{N(barX + w + 4)}\" y=\"{N(y + dy + 9)}\" font-size=\"11\">{m.Show(e)}</text>");
            }

            double va = m.Value(x.A), vb = m.Value(x.B);
            double d = va - vb;
            double dw = deltaW * Math.Abs(d) / span;
            double dx = d >= 0 ? zeroX : zeroX - dw;
            string dColor = f is null ? "#7d8799" : f.Verdict == Verdict.Waste ? ColorWaste : ColorTrade;
            sb.Append(Ci, $"<rect x=\"{N(dx)}\" y=\"{N(y + 8)}\" width=\"{N(Math.Max(dw, 1))}\" height=\"14\" rx=\"2\" fill=\"{dColor}\"/>");
            string dText = (d >= 0 ? "+" : "\u2212") + m.Show(Math.Abs(d))
                + (va > 0 && vb > 0 ? $" ({(d >= 0 ? va / vb : vb / va).ToString("0.00", Ci)}\u00d7)" : "");
            sb.Append(Ci, $"<text x=\"{N(deltaTextX)}\" y=\"{N(y + 19)}\" font-size=\"11.5\" font-weight=\"600\" text-anchor=\"end\"{(f is null ? "" : $" fill=\"{dColor}\"")}>{E(dText)}</text>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    static string OpsSummary(IReadOnlyList<string> ops)
    {
        if (ops.Count == 0) return "no ops";
        if (ops.Count == 1) return Short(ops[0]);
        return $"{ops.Count} ops";
    }

    /// <summary>"aten.gelu.default" as "gelu", "aten.mul.Tensor" as "mul".</summary>
    internal static string Short(string op)
    {
        var parts = op.Split('.');
        return parts.Length >= 2 && parts[0] == "aten" ? parts[1] : op;
    }

    /// <summary>
    /// Energy per iteration of each run: measured job energy split into operator GPU energy and idle/host energy.
    /// When the model attributes more than was measured (closure above 100 %), idle/host is negative: the bar
    /// of operator energy then passes the measured mark, and the text says so.
    /// </summary>
    internal static string EnergySplit(RunSide a, RunSide b)
    {
        const double width = 560, barX = 0, barW = 470, rowH = 52;
        double max = new[] { a.IterationEnergyJ, a.GpuEnergyJ, b.IterationEnergyJ, b.GpuEnergyJ }.Where(double.IsFinite).DefaultIfEmpty(1).Max();
        if (!(max > 0)) max = 1;
        double height = 2 * rowH + 22;
        var sb = new StringBuilder();
        sb.Append(Ci, $"<svg id=\"energy-split-svg\" role=\"img\" viewBox=\"0 0 {N(width)} {N(height)}\" width=\"{N(width)}\" height=\"{N(height)}\" xmlns=\"http://www.w3.org/2000/svg\" fill=\"#1b2130\">");
        sb.Append("<title>Energy per iteration of A and B: operator GPU energy and idle/host energy against the measured job energy</title>");
        int row = 0;
        foreach (var (name, s, color) in new[] { ("A", a, ColorA), ("B", b, ColorB) })
        {
            double y = row++ * rowH;
            sb.Append(Ci, $"<text x=\"{N(barX)}\" y=\"{N(y + 14)}\" font-size=\"13\" font-weight=\"700\" fill=\"{color}\">{name}</text>");
            sb.Append(Ci, $"<text x=\"{N(barX + 16)}\" y=\"{N(y + 14)}\" font-size=\"13\">{E(Clip(s.System, 40))}</text>");
            sb.Append(Ci, $"<text x=\"{N(width - 2)}\" y=\"{N(y + 14)}\" font-size=\"13\" font-weight=\"700\" text-anchor=\"end\">{E(Joules(s.IterationEnergyJ))} \u00b7 {E(Ms(s.IterationTimeS))}</text>");
            double ops = Math.Max(0, s.GpuEnergyJ), idle = s.IterationEnergyJ - s.GpuEnergyJ;
            double wOps = barW * ops / max;
            double by = y + 20;
            sb.Append(Ci, $"<rect x=\"{N(barX)}\" y=\"{N(by)}\" width=\"{N(wOps)}\" height=\"16\" fill=\"{color}\"><title>operators (GPU): {E(Joules(s.GpuEnergyJ))}</title></rect>");
            if (idle > 0)
            {
                double wIdle = barW * idle / max;
                sb.Append(Ci, $"<rect x=\"{N(barX + wOps)}\" y=\"{N(by)}\" width=\"{N(wIdle)}\" height=\"16\" fill=\"{color}\" fill-opacity=\"0.28\"><title>idle/host: {E(Joules(idle))}</title></rect>");
            }
            double mx = barX + barW * Math.Max(0, s.IterationEnergyJ) / max;
            sb.Append(Ci, $"<line x1=\"{N(mx)}\" y1=\"{N(by - 4)}\" x2=\"{N(mx)}\" y2=\"{N(by + 20)}\" stroke=\"#1b2130\" stroke-width=\"2\"/>");
            string detail = $"operators {Signed(s.GpuEnergyJ)} J + idle/host {Signed(idle)} J"
                + (idle < 0 ? $" (operators exceed measured: closure {Percent(s.Closure, "0")})" : "");
            sb.Append(Ci, $"<text x=\"{N(barX + barW + 8)}\" y=\"{N(by + 12)}\" font-size=\"11\" fill=\"{Muted}\">measured</text>");
            sb.Append(Ci, $"<text x=\"{N(barX)}\" y=\"{N(by + 30)}\" font-size=\"11.5\" fill=\"{Muted}\">{E(detail)}</text>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>
    /// For reports without energy (plain profiler traces): each side's GPU time per step against its step's wall
    /// time. GPU time can exceed wall time where streams overlap; the text then says so.
    /// </summary>
    internal static string TimeSplit(RunSide a, RunSide b)
    {
        const double width = 560, barW = 470, rowH = 52;
        double max = new[] { a.IterationTimeS, a.GpuTimeS, b.IterationTimeS, b.GpuTimeS }.Where(double.IsFinite).DefaultIfEmpty(1).Max();
        if (!(max > 0)) max = 1;
        double height = 2 * rowH + 22;
        var sb = new StringBuilder();
        sb.Append(Ci, $"<svg id=\"energy-split-svg\" role=\"img\" viewBox=\"0 0 {N(width)} {N(height)}\" width=\"{N(width)}\" height=\"{N(height)}\" xmlns=\"http://www.w3.org/2000/svg\" fill=\"#1b2130\">");
        sb.Append("<title>GPU time per step of A and B against the step's wall time</title>");
        int row = 0;
        foreach (var (name, s, color) in new[] { ("A", a, ColorA), ("B", b, ColorB) })
        {
            double y = row++ * rowH;
            sb.Append(Ci, $"<text x=\"0\" y=\"{N(y + 14)}\" font-size=\"13\" font-weight=\"700\" fill=\"{color}\">{name}</text>");
            sb.Append(Ci, $"<text x=\"16\" y=\"{N(y + 14)}\" font-size=\"13\">{E(Clip(s.System, 40))}</text>");
            sb.Append(Ci, $"<text x=\"{N(width - 2)}\" y=\"{N(y + 14)}\" font-size=\"13\" font-weight=\"700\" text-anchor=\"end\">GPU {E(Ms(s.GpuTimeS))} \u00b7 step {E(Ms(s.IterationTimeS))}</text>");
            double by = y + 20;
            double w = double.IsFinite(s.GpuTimeS) ? barW * Math.Max(0, s.GpuTimeS) / max : 0;
            sb.Append(Ci, $"<rect x=\"0\" y=\"{N(by)}\" width=\"{N(w)}\" height=\"16\" fill=\"{color}\"><title>GPU time: {E(Ms(s.GpuTimeS))}</title></rect>");
            if (double.IsFinite(s.IterationTimeS))
            {
                double mx = barW * Math.Max(0, s.IterationTimeS) / max;
                sb.Append(Ci, $"<line x1=\"{N(mx)}\" y1=\"{N(by - 4)}\" x2=\"{N(mx)}\" y2=\"{N(by + 20)}\" stroke=\"#1b2130\" stroke-width=\"2\"/>");
                sb.Append(Ci, $"<text x=\"{N(barW + 8)}\" y=\"{N(by + 12)}\" font-size=\"11\" fill=\"{Muted}\">step</text>");
            }
            string detail = double.IsFinite(s.IterationTimeS) && s.IterationTimeS > 0
                ? $"GPU busy {Percent(s.GpuTimeS / s.IterationTimeS, "0")} of the step" + (s.GpuTimeS > s.IterationTimeS ? " (streams overlap)" : "")
                : "step wall time not known";
            sb.Append(Ci, $"<text x=\"0\" y=\"{N(by + 30)}\" font-size=\"11.5\" fill=\"{Muted}\">{E(detail)}</text>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>Watts of a power.csv row: the instantaneous reading where read, else the averaged one; null when neither.</summary>
    internal static double? Watts(PowerSamples p, int i) =>
        p.PowerInstantMw[i] >= 0 ? p.PowerInstantMw[i] / 1000.0 : p.PowerAverageMw[i] >= 0 ? p.PowerAverageMw[i] / 1000.0 : null;

    /// <summary>Both runs' power.csv on one chart, each from its own first sample, downsampled to min/max per pixel.</summary>
    internal static string PowerTimeline(PowerSamples? a, PowerSamples? b, string nameA = "A", string nameB = "B")
    {
        const double width = 1200, height = 270, left = 56, right = 1188, topY = 12, bottom = 228;
        var series = new List<(string Name, string Color, List<(double T, double W)> Points)>();
        foreach (var (name, p, color) in new[] { ("A " + nameA, a, ColorA), ("B " + nameB, b, ColorB) })
        {
            if (p is null || p.Count == 0) continue;
            var pts = new List<(double, double)>(p.Count);
            long t0 = p.TimeNs[0];
            for (int i = 0; i < p.Count; i++)
                if (Watts(p, i) is { } w) pts.Add(((p.TimeNs[i] - t0) / 1e9, w));
            if (pts.Count > 0) series.Add((name, color, pts));
        }
        if (series.Count == 0) return "";
        double tMax = Math.Max(1e-3, series.Max(s => s.Points[^1].T));
        double wMax = series.Max(s => s.Points.Max(p => p.W));
        var yTicks = Ticks(wMax * 1.05, 5);
        var xTicks = Ticks(tMax, 8);
        double yTop = yTicks[^1], xEnd = Math.Max(xTicks[^1], tMax);
        double X(double t) => left + (right - left) * t / xEnd;
        double Y(double w) => bottom - (bottom - topY) * w / yTop;

        var sb = new StringBuilder();
        sb.Append(Ci, $"<svg id=\"power-timeline-svg\" role=\"img\" viewBox=\"0 0 {N(width)} {N(height)}\" width=\"{N(width)}\" height=\"{N(height)}\" xmlns=\"http://www.w3.org/2000/svg\" fill=\"#1b2130\">");
        sb.Append("<title>GPU power over time from power.csv, A and B, each from its first sample</title>");
        foreach (var t in yTicks)
        {
            sb.Append(Ci, $"<line x1=\"{N(left)}\" y1=\"{N(Y(t))}\" x2=\"{N(right)}\" y2=\"{N(Y(t))}\" stroke=\"#e6e8ee\"/>");
            sb.Append(Ci, $"<text x=\"{N(left - 6)}\" y=\"{N(Y(t) + 4)}\" font-size=\"11\" text-anchor=\"end\" fill=\"{Muted}\">{TickLabel(t)}</text>");
        }
        foreach (var t in xTicks.Where(t => t <= xEnd + 1e-9))
        {
            sb.Append(Ci, $"<line x1=\"{N(X(t))}\" y1=\"{N(bottom)}\" x2=\"{N(X(t))}\" y2=\"{N(bottom + 4)}\" stroke=\"#9aa3b2\"/>");
            sb.Append(Ci, $"<text x=\"{N(X(t))}\" y=\"{N(bottom + 17)}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{Muted}\">{TickLabel(t)}</text>");
        }
        sb.Append(Ci, $"<line x1=\"{N(left)}\" y1=\"{N(bottom)}\" x2=\"{N(right)}\" y2=\"{N(bottom)}\" stroke=\"#9aa3b2\"/>");
        sb.Append(Ci, $"<text x=\"{N((left + right) / 2)}\" y=\"{N(height - 6)}\" font-size=\"11.5\" text-anchor=\"middle\" fill=\"{Muted}\">seconds since the run's first power sample</text>");
        sb.Append(Ci, $"<text x=\"14\" y=\"{N((topY + bottom) / 2)}\" font-size=\"11.5\" text-anchor=\"middle\" fill=\"{Muted}\" transform=\"rotate(-90 14 {N((topY + bottom) / 2)})\">GPU power, W</text>");

        foreach (var (name, color, points) in series)
        {
            var path = new StringBuilder();
            foreach (var (t, w) in Downsample(points, (int)(right - left)))
                path.Append(path.Length == 0 ? "M" : "L").Append(N(X(t))).Append(',').Append(N(Y(w)));
            sb.Append(Ci, $"<path d=\"{path}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.6\" stroke-linejoin=\"round\" opacity=\"0.9\"><title>{E(name)}</title></path>");
        }
        double lx = right - 300;
        int k = 0;
        foreach (var (name, color, _) in series)
        {
            double ly = topY + 6 + 16 * k++;
            sb.Append(Ci, $"<rect x=\"{N(lx)}\" y=\"{N(ly)}\" width=\"18\" height=\"4\" fill=\"{color}\"/><text x=\"{N(lx + 24)}\" y=\"{N(ly + 6)}\" font-size=\"12\">{E(Clip(name, 44))}</text>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    /// <summary>At most about 2 points per pixel column: the first, min and max of each bucket, in time order.</summary>
    static IEnumerable<(double T, double W)> Downsample(List<(double T, double W)> points, int buckets)
    {
        if (points.Count <= buckets * 2) { foreach (var p in points) yield return p; yield break; }
        double t0 = points[0].T, t1 = points[^1].T, span = Math.Max(1e-12, t1 - t0);
        int i = 0;
        for (int b = 0; b < buckets && i < points.Count; b++)
        {
            double end = t0 + span * (b + 1) / buckets;
            int start = i;
            int minI = i, maxI = i;
            while (i < points.Count && (points[i].T <= end || b == buckets - 1))
            {
                if (points[i].W < points[minI].W) minI = i;
                if (points[i].W > points[maxI].W) maxI = i;
                i++;
            }
            if (i == start) continue;
            foreach (var j in new[] { minI, maxI }.Distinct().Order()) yield return points[j];
        }
    }

    /// <summary>Horizontal bars with a reference line (baseline, median): campaign versions, audit nodes.</summary>
    internal static string Bars(string id, string title, IReadOnlyList<(string Label, double Value, string Color, string Text)> rows,
        double? reference, string referenceLabel, string unit)
    {
        const double width = 1200, labelW = 330, barX = 340, barW = 520, rowH = 26, header = 22;
        double height = header + rows.Count * rowH + 8;
        double max = rows.Select(r => r.Value).Where(double.IsFinite).Append(reference ?? 0).DefaultIfEmpty(1).Max();
        if (!(max > 0)) max = 1;
        var sb = new StringBuilder();
        sb.Append(Ci, $"<svg id=\"{E(id)}\" role=\"img\" viewBox=\"0 0 {N(width)} {N(height)}\" width=\"{N(width)}\" height=\"{N(height)}\" xmlns=\"http://www.w3.org/2000/svg\" fill=\"#1b2130\">");
        sb.Append(Ci, $"<title>{E(title)}</title>");
        sb.Append(Ci, $"<text x=\"{N(barX)}\" y=\"14\" font-size=\"12\" fill=\"{Muted}\">{E(unit)}</text>");
        for (int i = 0; i < rows.Count; i++)
        {
            var (label, value, color, text) = rows[i];
            double y = header + i * rowH;
            if (i % 2 == 1) sb.Append(Ci, $"<rect x=\"0\" y=\"{N(y)}\" width=\"{N(width)}\" height=\"{N(rowH)}\" rx=\"4\" fill=\"#f7f8fa\"/>");
            sb.Append(Ci, $"<text x=\"4\" y=\"{N(y + 17)}\" font-size=\"12.5\">{E(Clip(label, (int)(labelW / 7.2)))}</text>");
            double w = double.IsFinite(value) ? Math.Max(1, barW * value / max) : 0;
            sb.Append(Ci, $"<rect x=\"{N(barX)}\" y=\"{N(y + 6)}\" width=\"{N(w)}\" height=\"14\" rx=\"2\" fill=\"{color}\"/>");
            sb.Append(Ci, $"<text x=\"{N(barX + w + 6)}\" y=\"{N(y + 17)}\" font-size=\"12\">{E(Clip(text, 48))}</text>");
        }
        if (reference is { } refValue && double.IsFinite(refValue))
        {
            double rx = barX + barW * refValue / max;
            sb.Append(Ci, $"<line x1=\"{N(rx)}\" y1=\"{N(header - 4)}\" x2=\"{N(rx)}\" y2=\"{N(height - 2)}\" stroke=\"#1b2130\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>");
            sb.Append(Ci, $"<text x=\"{N(rx + 4)}\" y=\"14\" font-size=\"12\" font-weight=\"600\">{E(referenceLabel)}</text>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }
}
