using System.Globalization;

namespace Magneton.Core.Bundles;

/// <summary>
/// How much a trace may grow to when read: a stated ceiling, so a hostile or runaway input (a gzip bomb, a trace of
/// a whole training run) ends in one line instead of hours of CPU and gigabytes of memory. Defaults are far above
/// what a capture of a few iterations holds; each is raised by an environment variable (silos, scripts) or by the
/// command's option of the same name (<c>--max-trace-bytes</c>, <c>--max-compression-ratio</c>,
/// <c>--max-trace-events</c>), the option winning.
/// </summary>
/// <param name="MaxTraceBytes">Decoded (decompressed) bytes of one trace file.</param>
/// <param name="MaxCompressionRatio">
/// Decoded bytes per compressed byte read so far, checked once <see cref="RatioFloorBytes"/> have been decoded:
/// profiler JSON compresses 5-30x, a run of one repeated byte over 1000x.
/// </param>
/// <param name="MaxTraceEvents">Entries of traceEvents in one trace file.</param>
public sealed record InputLimits(long MaxTraceBytes, double MaxCompressionRatio, long MaxTraceEvents)
{
    public const string MaxTraceBytesVariable = "MAGNETON_MAX_TRACE_BYTES";
    public const string MaxCompressionRatioVariable = "MAGNETON_MAX_COMPRESSION_RATIO";
    public const string MaxTraceEventsVariable = "MAGNETON_MAX_TRACE_EVENTS";

    /// <summary>Below this many decoded bytes the ratio is not judged: a small, very regular file is no threat.</summary>
    public const long RatioFloorBytes = 64L << 20;

    public static InputLimits Default { get; } = new(8L << 30, 100, 25_000_000);

    static readonly AsyncLocal<InputLimits?> Scoped = new();

    /// <summary>
    /// The limits of the command being run: those of <see cref="Use"/> on this flow of control, else the environment's.
    /// A scope rather than a parameter so that a command's options reach every reader it calls (bundles, plain traces,
    /// directories of them) without each signature in between carrying them; a scope rather than a global so that
    /// two commands in one process (the tests run the CLI in-process, in parallel) do not see each other's.
    /// </summary>
    public static InputLimits Current => Scoped.Value ?? FromEnvironment();

    /// <summary>Makes <paramref name="limits"/> <see cref="Current"/> for this flow (and tasks it starts) until disposed.</summary>
    public static IDisposable Use(InputLimits limits)
    {
        var outer = Scoped.Value;
        Scoped.Value = limits;
        return new Restore(outer);
    }

    sealed class Restore(InputLimits? outer) : IDisposable
    {
        public void Dispose() => Scoped.Value = outer;
    }

    /// <summary>The defaults with the MAGNETON_MAX_* variables of this process applied; a bad value is one line.</summary>
    public static InputLimits FromEnvironment() => FromVariables(Environment.GetEnvironmentVariable);

    public static InputLimits FromVariables(Func<string, string?> variable) => new(
        Parse(variable(MaxTraceBytesVariable), MaxTraceBytesVariable, Default.MaxTraceBytes),
        Parse(variable(MaxCompressionRatioVariable), MaxCompressionRatioVariable, Default.MaxCompressionRatio),
        Parse(variable(MaxTraceEventsVariable), MaxTraceEventsVariable, Default.MaxTraceEvents));

    /// <summary>These limits with whichever of the command's options were given.</summary>
    public InputLimits With(long? maxTraceBytes, double? maxCompressionRatio, long? maxTraceEvents) => new(
        maxTraceBytes ?? MaxTraceBytes, maxCompressionRatio ?? MaxCompressionRatio, maxTraceEvents ?? MaxTraceEvents);

    /// <summary>The refusal of a trace with more events than <see cref="MaxTraceEvents"/>.</summary>
    public BundleException TooManyEvents(string file) => new(file, "traceEvents",
        $"has more than {MaxTraceEvents:N0} events, the limit; raise it with --max-trace-events or {MaxTraceEventsVariable}");

    static long Parse(string? text, string variable, long fallback)
    {
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v) && v > 0
            ? v
            : throw new BundleException(variable, "environment", $"needs a positive integer, got '{text}'");
    }

    static double Parse(string? text, string variable, double fallback)
    {
        if (string.IsNullOrWhiteSpace(text)) return fallback;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v >= 1 && double.IsFinite(v)
            ? v
            : throw new BundleException(variable, "environment", $"needs a number of at least 1, got '{text}'");
    }
}
