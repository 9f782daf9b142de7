using System.Globalization;

namespace Magneton.Client;

/// <summary>Arguments of <c>magneton compare</c>, parsed by hand (fast start, exact error messages).</summary>
public sealed record CompareArguments(
    string BundleA,
    string BundleB,
    double Threshold,
    string? Json,
    bool FailOnWaste,
    bool Quiet,
    bool Help = false,
    string? Cluster = null,
    string? Html = null,
    int? Step = null,
    int? Rank = null,
    TimeSpan? Timeout = null,
    bool Cancel = false)
{
    public const double DefaultThreshold = 0.10;

    /// <summary>--timeout: how long a --cluster compare may take in all before it ends with one line (exit 2).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromHours(1);

    public static CompareArguments Parse(ReadOnlySpan<string> args)
    {
        var positional = new List<string>();
        double threshold = DefaultThreshold;
        string? json = null, cluster = null, html = null;
        int? step = null, rank = null;
        TimeSpan? timeout = null;
        bool failOnWaste = false, quiet = false, cancel = false, optionsEnded = false;

        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (optionsEnded || arg == "-" || !arg.StartsWith('-'))
            {
                positional.Add(arg);
                continue;
            }
            string name = arg;
            string? inline = null;
            int eq = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 2) { name = arg[..eq]; inline = arg[(eq + 1)..]; }
            bool hasNext = i + 1 < args.Length;
            string? next = hasNext ? args[i + 1] : null;

            string Value(ref int index)
            {
                if (inline is not null) return inline;
                if (next is null) throw new UsageException($"option {name} needs a value");
                index++;
                return next;
            }
            void NoValue() { if (inline is not null) throw new UsageException($"option {name} takes no value"); }

            switch (name)
            {
                case "--":
                    optionsEnded = true;
                    break;
                case "-h" or "--help":
                    return new CompareArguments("", "", threshold, json, failOnWaste, quiet, Help: true);
                case "--threshold":
                    threshold = ParseThreshold(Value(ref i));
                    break;
                case "--json":
                    json = Value(ref i);
                    if (json.Length == 0) throw new UsageException("option --json needs a file name or '-'");
                    break;
                case "--html":
                    html = Value(ref i);
                    if (html.Length == 0 || html == "-") throw new UsageException("option --html needs a file name");
                    break;
                case "--step":
                    step = ParseIndex(name, Value(ref i));
                    break;
                case "--rank":
                    rank = ParseIndex(name, Value(ref i));
                    break;
                case "--cluster":
                    cluster = Value(ref i);
                    ClusterEndpoints.Parse(cluster); // fail fast on a malformed address
                    break;
                case "--fail-on-waste":
                    NoValue();
                    failOnWaste = true;
                    break;
                case "--timeout":
                    var t = Value(ref i);
                    timeout = double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var sec) && sec is > 0 and <= 7 * 86400
                        ? TimeSpan.FromSeconds(sec)
                        : throw new UsageException($"--timeout: '{t}' is not a number of seconds in (0, 604800]");
                    break;
                case "--cancel":
                    NoValue();
                    cancel = true;
                    break;
                case "--quiet" or "-q":
                    NoValue();
                    quiet = true;
                    break;
                default:
                    throw new UsageException($"unknown option '{name}' for compare (see magneton --help)");
            }
        }
        if (positional.Count < 2)
            throw new UsageException(positional.Count == 0
                ? "compare needs two bundles: magneton compare <bundleA> <bundleB>"
                : "compare needs a second bundle: magneton compare <bundleA> <bundleB>");
        if (positional.Count > 2)
            throw new UsageException($"unexpected argument '{positional[2]}': compare takes two bundles");
        return new CompareArguments(positional[0], positional[1], threshold, json, failOnWaste, quiet, Cluster: cluster, Html: html, Step: step, Rank: rank,
            Timeout: timeout, Cancel: cancel);
    }

    /// <summary>--step N / --rank R: a non-negative integer (plain profiler traces only).</summary>
    internal static int ParseIndex(string option, string text)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int v))
            throw new UsageException($"{option}: '{text}' is not a non-negative integer");
        return v;
    }

    static double ParseThreshold(string text)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) || !double.IsFinite(t))
            throw new UsageException($"--threshold: '{text}' is not a number (expected a fraction such as 0.10)");
        if (t <= 0 || t > 10)
            throw new UsageException($"--threshold: {text} is out of range (0, 10]");
        return t;
    }
}
