using System.CommandLine;
using System.Globalization;

namespace Magneton.Client;

/// <summary>
/// The probe's own options, shared by capture and submit: checked here, passed to <c>python -m magneton_probe</c>
/// as given. A new probe option is added here once.
/// </summary>
internal sealed class ProbeOptionSet
{
    readonly Option<int?> _iterations = CliOptions.Value<int?>("--iterations", "n",
        "energy-pass iterations (default: about 0.6 s of the job)", NonNegative("--iterations"));
    readonly Option<bool> _noReplay = CliOptions.Flag("--no-replay", "skip the per-operator replay (operator power from the timeline only)");
    readonly Option<int?> _replayRepeat = CliOptions.Value<int?>("--replay-repeat", "n",
        "replay the n longest operators twice (repeatability check)", NonNegative("--replay-repeat"));
    readonly Option<string?> _replayBudget = CliOptions.Value<string?>("--replay-budget", "s",
        "seconds for all replays together (default 240)", PositiveSeconds("--replay-budget"));
    readonly Option<string?> _baselineSeconds = CliOptions.Value<string?>("--baseline-seconds", "s",
        "length of the uninstrumented baseline (default 2)", PositiveSeconds("--baseline-seconds"));

    public void AddTo(Command command)
    {
        command.Add(_iterations);
        command.Add(_noReplay);
        command.Add(_replayRepeat);
        command.Add(_replayBudget);
        command.Add(_baselineSeconds);
    }

    /// <summary>The probe's arguments, in its own syntax.</summary>
    public List<string> Read(ParseResult pr)
    {
        var args = new List<string>();
        if (pr.GetValue(_iterations) is int n) args.AddRange(["--iterations", n.ToString(CultureInfo.InvariantCulture)]);
        if (pr.GetValue(_noReplay)) args.Add("--no-replay");
        if (pr.GetValue(_replayRepeat) is int r) args.AddRange(["--replay-repeat", r.ToString(CultureInfo.InvariantCulture)]);
        if (pr.GetValue(_replayBudget) is { } budget) args.AddRange(["--replay-budget", budget]);
        if (pr.GetValue(_baselineSeconds) is { } baseline) args.AddRange(["--baseline-seconds", baseline]);
        return args;
    }

    /// <summary>
    /// Probe arguments that come from elsewhere (a submitted job, on the worker): only these options, with valid values.
    /// Throws the one-line <see cref="UsageException"/> otherwise.
    /// </summary>
    public static void Check(IReadOnlyList<string> probeArguments)
    {
        var command = new Command("probe");
        new ProbeOptionSet().AddTo(command);
        Cli.Parse(command, probeArguments);
    }

    static Func<string, int?> NonNegative(string option) => v =>
        int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new UsageException($"option {option} needs a non-negative integer, got '{v}'");

    /// <summary>Kept as typed: the probe parses it again.</summary>
    static Func<string, string?> PositiveSeconds(string option) => v =>
        double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) && s > 0
            ? v
            : throw new UsageException($"option {option} needs a positive number of seconds, got '{v}'");
}
