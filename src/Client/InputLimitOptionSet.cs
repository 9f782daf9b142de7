using System.CommandLine;
using System.Globalization;
using Magneton.Core.Bundles;

namespace Magneton.Client;

/// <summary>
/// --max-trace-bytes, --max-compression-ratio, --max-trace-events: the <see cref="InputLimits"/> of the commands that
/// read bundles or traces, over the MAGNETON_MAX_* environment variables. <see cref="Scoped"/> makes them the limits of
/// everything the command's action reads, the embedded silo's reads included.
/// </summary>
internal sealed class InputLimitOptionSet
{
    readonly Option<long?> _bytes = CliOptions.Value<long?>("--max-trace-bytes", "bytes",
        $"refuse a trace that decodes to more bytes (default {InputLimits.Default.MaxTraceBytes}, or {InputLimits.MaxTraceBytesVariable})",
        Positive("--max-trace-bytes"));
    readonly Option<double?> _ratio = CliOptions.Value<double?>("--max-compression-ratio", "x",
        $"refuse a gzip trace that expands more than x times once past {InputLimits.RatioFloorBytes >> 20} MiB "
        + $"(default {InputLimits.Default.MaxCompressionRatio}, or {InputLimits.MaxCompressionRatioVariable})",
        v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && x >= 1 && double.IsFinite(x)
            ? x
            : throw new UsageException($"option --max-compression-ratio needs a number of at least 1, got '{v}'"));
    readonly Option<long?> _events = CliOptions.Value<long?>("--max-trace-events", "n",
        $"refuse a trace with more events (default {InputLimits.Default.MaxTraceEvents}, or {InputLimits.MaxTraceEventsVariable})",
        Positive("--max-trace-events"));

    public void AddTo(Command command)
    {
        command.Add(_bytes);
        command.Add(_ratio);
        command.Add(_events);
    }

    /// <summary>The environment's limits with the options given on this command line.</summary>
    public InputLimits Read(ParseResult pr) =>
        InputLimits.FromEnvironment().With(pr.GetValue(_bytes), pr.GetValue(_ratio), pr.GetValue(_events));

    /// <summary><paramref name="action"/> with this command line's limits as <see cref="InputLimits.Current"/>.</summary>
    public Func<ParseResult, CancellationToken, Task<int>> Scoped(Func<ParseResult, CancellationToken, Task<int>> action) =>
        async (pr, ct) =>
        {
            using (InputLimits.Use(Read(pr)))
                return await action(pr, ct).ConfigureAwait(false);
        };

    static Func<string, long?> Positive(string option) => v =>
        long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out long n) && n > 0
            ? n
            : throw new UsageException($"option {option} needs a positive integer, got '{v}'");
}
