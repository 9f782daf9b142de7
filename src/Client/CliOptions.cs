using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Magneton.Client;

/// <summary>
/// Building blocks of the command definitions (see <see cref="Cli"/>): options whose value is parsed and checked
/// by a function that throws <see cref="UsageException"/> (its message becomes the one-line error), and the options
/// several commands share (--threshold, --json, --html, --quiet, --fail-on-waste).
/// </summary>
internal static class CliOptions
{
    /// <summary>An option with one value, parsed by <paramref name="parse"/>; a missing or repeated value is reported by <see cref="UsageErrors"/>.</summary>
    public static Option<T> Value<T>(string name, string helpName, string description, Func<string, T> parse, params string[] aliases) =>
        new(name, aliases)
        {
            HelpName = helpName,
            Description = description,
            Arity = ArgumentArity.ExactlyOne,
            CustomParser = r => Parsed(r, parse),
        };

    /// <summary>An option with one value, kept as typed; null when absent.</summary>
    public static Option<string?> Text(string name, string helpName, string description, params string[] aliases) =>
        Value<string?>(name, helpName, description, v => v, aliases);

    /// <summary>An option with one non-blank value.</summary>
    public static Option<string?> NonEmpty(string name, string helpName, string description, params string[] aliases) =>
        Value<string?>(name, helpName, description,
            v => string.IsNullOrWhiteSpace(v) ? throw new UsageException($"option {name} needs a non-empty value") : v, aliases);

    /// <summary>An option without a value.</summary>
    public static Option<bool> Flag(string name, string description, params string[] aliases) =>
        new(name, aliases) { Description = description, Arity = ArgumentArity.Zero };

    /// <summary>A positional argument's value run through <paramref name="parse"/>.</summary>
    public static T Parsed<T>(ArgumentResult r, Func<string, T> parse)
    {
        if (r.Tokens.Count != 1) return default!; // missing or repeated: UsageErrors names it
        try
        {
            return parse(r.Tokens[0].Value);
        }
        catch (UsageException e)
        {
            r.AddError(e.Message);
            return default!;
        }
    }

    /// <summary>Refuses any of <paramref name="options"/> given without <paramref name="flag"/>, which they belong to (they would be ignored).</summary>
    public static void OnlyWith(ParseResult pr, string flag, string example, params Option[] options)
    {
        foreach (var o in options)
            if (pr.GetResult(o)?.IdentifierToken is not null) throw new UsageException($"option {o.Name} needs {flag} ({example})");
    }

    public const double DefaultThreshold = 0.10;

    public static Option<double> Threshold() => new Option<double>("--threshold")
    {
        HelpName = "x",
        Description = "minimum relative energy excess of a finding, a number in (0, 10]",
        Arity = ArgumentArity.ExactlyOne,
        CustomParser = r => Parsed(r, ParseThreshold),
        DefaultValueFactory = _ => DefaultThreshold,
    };

    public static Option<string?> Json(string what) => Value<string?>("--json", "file|-",
        $"also write the {what} as JSON to a file; '-' writes it to stdout, which then carries nothing else (the summary goes to stderr)",
        v => v.Length == 0 ? throw new UsageException("option --json needs a file name or '-'") : v);

    /// <summary>--json of the commands whose JSON replaces their text on stdout.</summary>
    public static Option<bool> JsonFlag(string what = "print JSON instead of text") => Flag("--json", what);

    public static Option<string?> Html() => Value<string?>("--html", "file",
        "also write a self-contained HTML report (verdict, findings, charts, power timeline)",
        v => v.Length == 0 || v == "-" ? throw new UsageException("option --html needs a file name") : v);

    public static Option<bool> Quiet() => Flag("--quiet", "do not print the terminal summary (nor the live progress display)", "-q");

    public static Option<bool> FailOnWaste() => Flag("--fail-on-waste", "exit with code 3 when any finding is waste (for CI gates)");

    public static double ParseThreshold(string text)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) || !double.IsFinite(t))
            throw new UsageException($"--threshold: '{text}' is not a number (expected a fraction such as 0.10)");
        if (t <= 0 || t > 10)
            throw new UsageException($"--threshold: {text} is out of range (0, 10]");
        return t;
    }

    /// <summary>A non-negative integer (--step, --rank, --top, --gpu ...).</summary>
    public static Func<string, int> Index(string option) => text =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v)
            ? v
            : throw new UsageException($"{option}: '{text}' is not a non-negative integer");

    /// <summary>A number of seconds in (0, <paramref name="max"/>].</summary>
    public static Func<string, double> Seconds(string option, double max) => text =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && double.IsFinite(s) && s > 0 && s <= max
            ? s
            : throw new UsageException($"option {option} needs a number of seconds in (0, {max.ToString(CultureInfo.InvariantCulture)}], got '{text}'");
}
