using System.Globalization;
using System.Net;
using System.Text;

namespace Magneton.Core.Rendering.Html;

/// <summary>Encoding and number formatting shared by the HTML pages. Every string from a report goes through <see cref="E"/>.</summary>
internal static class HtmlText
{
    internal static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    /// <summary>HTML-encodes text for element content and attribute values (quotes included).</summary>
    internal static string E(string? s) => s is null ? "" : WebUtility.HtmlEncode(s);

    /// <summary>Joules with a unit that reads well: J above 1, else mJ.</summary>
    internal static string Joules(double j)
    {
        if (!double.IsFinite(j)) return "n/a";
        return Math.Abs(j) >= 1 ? j.ToString("0.000", Ci) + " J" : (j * 1000).ToString("0.0", Ci) + " mJ";
    }

    internal static string Mj(double j) => double.IsFinite(j) ? (j * 1000).ToString("0.0", Ci) : "n/a";

    internal static string SignedMj(double j) =>
        !double.IsFinite(j) ? "n/a" : (j >= 0 ? "+" : "\u2212") + Math.Abs(j * 1000).ToString("0.0", Ci) + " mJ";

    internal static string Signed(double j) => j < 0 ? "\u2212" + Math.Abs(j).ToString("0.000", Ci) : j.ToString("0.000", Ci);

    internal static string Percent(double x, string format = "0.0") => double.IsFinite(x) ? (x * 100).ToString(format, Ci) + " %" : "n/a";

    internal static string Ratio(double x) => double.IsFinite(x) ? x.ToString("0.00", Ci) + "\u00d7" : "n/a";

    internal static string Ratio3(double x) => double.IsFinite(x) ? x.ToString("0.000", Ci) + "\u00d7" : "n/a";

    internal static string Ms(double seconds) => double.IsFinite(seconds) ? (seconds * 1000).ToString("0.00", Ci) + " ms" : "n/a";

    internal static string Us(double seconds) => double.IsFinite(seconds) ? (seconds * 1e6).ToString("0.0", Ci) + " \u00b5s" : "n/a";

    /// <summary>A number for SVG coordinates (invariant, two decimals at most).</summary>
    internal static string N(double x) => double.IsFinite(x) ? Math.Round(x, 2).ToString(Ci) : "0";

    internal static string Clip(string s, int n) => s.Length <= n ? s : s[..(n - 1)] + "\u2026";

    /// <summary>
    /// A kernel's readable name: without the leading return type and the parameter list, clipped. The full name
    /// is shown beside it on demand.
    /// </summary>
    internal static string ShortKernel(string name, int max = 110)
    {
        var s = name.StartsWith("void ", StringComparison.Ordinal) ? name[5..] : name;
        int depth = 0;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (c == '<') depth++;
            else if (c == '>') depth = Math.Max(0, depth - 1);
            else if (c == '(' && depth == 0 && i > 0) { s = s[..i]; break; }
        }
        return Clip(s.Trim(), max);
    }

    /// <summary>Operator chain compressed: consecutive repeats as "op ×n".</summary>
    internal static List<(string Op, int Count)> Runs(IReadOnlyList<string> ops)
    {
        var list = new List<(string, int)>();
        foreach (var op in ops)
        {
            if (list.Count > 0 && list[^1].Item1 == op) list[^1] = (op, list[^1].Item2 + 1);
            else list.Add((op, 1));
        }
        return list;
    }

    /// <summary>Axis ticks: about <paramref name="count"/> round values from 0 to at least max.</summary>
    internal static double[] Ticks(double max, int count = 5)
    {
        if (!(max > 0) || !double.IsFinite(max)) return [0, 1];
        double raw = max / count;
        double mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = new[] { 1, 2, 2.5, 5, 10 }.Select(m => m * mag).First(s => s >= raw);
        var ticks = new List<double>();
        for (double t = 0; t < max + step * 0.999; t += step) ticks.Add(Math.Round(t, 10));
        return [.. ticks];
    }

    internal static string TickLabel(double t) =>
        t == 0 ? "0" : Math.Abs(t) >= 100 ? t.ToString("0", Ci) : Math.Abs(t) >= 1 ? t.ToString("0.##", Ci) : t.ToString("0.###", Ci);

    internal static StringBuilder Line(this StringBuilder sb, string s) => sb.Append(s).Append('\n');
}
