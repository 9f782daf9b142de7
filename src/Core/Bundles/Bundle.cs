namespace Magneton.Core.Bundles;

/// <summary>
/// One capture bundle ("magneton-capture/1"), read whole and validated. The field meanings are those of
/// docs/capture-format.md; readers keep the raw numbers and leave interpretation to Runs and Energy.
/// </summary>
public sealed record Bundle(
    string Path,
    Dataflow Dataflow,
    KinetoSummary Kineto,
    PowerSamples Power,
    PowerSamples? BaselinePower,
    Measure Measure,
    ReplayDocument? Replay,
    PowerSamples? ReplayCounter,
    CaptureContext? Context);

/// <summary>dataflow.json: the semantic pass.</summary>
public sealed record Dataflow(
    string Format,
    string? Pair,
    string System,
    string? Role,
    IReadOnlyDictionary<string, string> Config,
    IReadOnlyList<DataflowNode> Nodes,
    IReadOnlyDictionary<int, DataflowValue> Values);

public sealed record DataflowNode(
    int Id,
    string Op,
    string Module,
    IReadOnlyList<string> Stack,
    int[] In,
    int[] Out,
    bool Mutable,
    bool View,
    int[] AliasesUpdated,
    string Args,
    int? TraceId);

/// <summary>Summary statistics of a float tensor, computed in float64 by the probe.</summary>
public sealed record FloatStats(double Mean, double Std, double Min, double Max, double AbsMean, double L2);

/// <summary>Summary of an integer or bool tensor.</summary>
public sealed record IntStats(double Sum, double Min, double Max, double Nonzero, double SumSq);

public sealed record DataflowValue(
    int Id,
    long[] Shape,
    string Dtype,
    long[] Stride,
    long Numel,
    string Kind,
    int? Producer,
    FloatStats? Stats,
    double[]? Deciles,
    long Nonfinite,
    IReadOnlyDictionary<string, double[]>? Spectra,
    IntStats? IStats);

/// <summary>
/// What the analysis needs from kineto.json.gz, reduced while streaming: per energy-pass operator
/// (the trace_id of the mg#&lt;iteration&gt;#&lt;trace_id&gt;#&lt;op&gt; ranges) its GPU work summed over all iterations.
/// </summary>
public sealed record KinetoSummary(
    int Iterations,
    IReadOnlyDictionary<int, TraceOperator> Operators,
    long EventCount,
    string? DeviceName,
    /// <summary>Kineto base time (ns) so that baseTimeNanoseconds + ts*1000 approximates Unix time.</summary>
    long BaseTimeNanoseconds,
    /// <summary>Trace timestamps (us, raw ts) of the mg_sync_begin / mg_sync_end ranges, if present.</summary>
    double? SyncBeginTs,
    double? SyncEndTs,
    /// <summary>Union of all GPU activity intervals inside the synchronised pass window (s): the time the GPU was busy.</summary>
    double GpuBusySeconds,
    /// <summary>Wall time between the first and last mg# range of the pass (s).</summary>
    double PassSeconds);

/// <summary>One energy-pass operator aggregated over the iterations it was seen in.</summary>
public sealed record TraceOperator(
    int TraceId,
    string Op,
    /// <summary>Number of iterations in which this operator's range was found.</summary>
    int Occurrences,
    /// <summary>Sum of its kernels' (and memcpy/memset) durations over all occurrences, seconds.</summary>
    double GpuSecondsTotal,
    /// <summary>Distinct GPU activity names with their count over all occurrences, in first-seen order.</summary>
    IReadOnlyList<KernelCount> Kernels)
{
    public double GpuSecondsPerIteration => Occurrences == 0 ? 0 : GpuSecondsTotal / Occurrences;
    /// <summary>
    /// The operator's host (CPU) time per iteration, seconds: its mg# ranges' duration in an iteration, the median
    /// over the iterations it occurred in (one preempted iteration on a busy machine does not move it).
    /// </summary>
    public double HostSecondsMedian { get; init; }
}

public sealed record KernelCount(string Name, string Category, int Count, double Seconds);

/// <summary>power.csv, baseline_power.csv, replay_counter.csv: columnar samples; -1 where not read.</summary>
public sealed record PowerSamples(long[] TimeNs, long[] PowerInstantMw, long[] PowerAverageMw, long[] EnergyMj)
{
    public int Count => TimeNs.Length;
}

public sealed record Measure(
    BaselineMeasure Baseline,
    double? ProbeOnlyIterSeconds,
    EnergyPassMeasure EnergyPass,
    double? SemanticPassSeconds)
{
    /// <summary>measure.json "node": the machine and GPU the capture ran on, when the capture recorded it.</summary>
    public CaptureNode? Node { get; init; }
    /// <summary>measure.json "device": a GPU capture with energies, or a CPU capture without any.</summary>
    public CaptureDevice Device { get; init; }
    /// <summary>measure.json "system", when present: the same as dataflow.json's in one bundle.</summary>
    public string? System { get; init; }
}

/// <summary>The machine of a capture: host name, GPU model and UUID, driver version, enforced power limit.</summary>
public sealed record CaptureNode(string? Host, string? Gpu, string? GpuUuid, string? Driver, double? PowerLimitW);

public sealed record BaselineMeasure(int Iterations, double WallSeconds, double IterSeconds, double EnergyCounterJ,
    double IterEnergyCounterJ, long WindowStartNs, long WindowEndNs);

public sealed record EnergyPassMeasure(int Iterations, double WallSeconds, double IterSeconds,
    long SyncBeginStartNs, long SyncBeginEndNs, long SyncEndStartNs, long SyncEndEndNs);

public sealed record ReplayDocument(ReplayIdle? Idle, IReadOnlyList<ReplayItem> Items)
{
    /// <summary>replay.json "system", when present: the same as dataflow.json's in one bundle.</summary>
    public string? System { get; init; }
}

public sealed record ReplayIdle(long WindowStartNs, long WindowEndNs, double? PowerW);

/// <summary>
/// A long replay window. Kind "op": Id is the energy-pass trace_id and Node the dataflow node id.
/// Kind "module": Module names the module replayed whole.
/// </summary>
public sealed record ReplayItem(
    string Kind,
    string Id,
    string? Op,
    string? Module,
    int? Node,
    long WindowStartNs,
    long WindowEndNs,
    long Launches,
    double GpuSeconds,
    string? Mode,
    long Calls,
    double CallUs,
    double? PowerW,
    int CounterUpdates,
    double? EnergyJ,
    double? CallEnergyMj,
    string? Error);

public sealed record SourceLine(int Line, string Text);

/// <summary>context.json: flags and config as printable strings, module classes, source around stack frames.</summary>
public sealed record CaptureContext(
    IReadOnlyDictionary<string, string> Flags,
    IReadOnlyDictionary<string, string> Modules,
    IReadOnlyDictionary<string, string> ModelConfig,
    IReadOnlyDictionary<string, IReadOnlyList<SourceLine>> Source,
    IReadOnlyDictionary<string, string> Versions);

/// <summary>
/// A bundle that cannot be read. The message is one line naming the file and the field, as the CLI prints it
/// (exit code 2).
/// </summary>
public class BundleException(string file, string field, string problem)
    : Exception($"{file}: {field}: {problem}")
{
    public string File { get; } = file;
    public string Field { get; } = field;
    public string Problem { get; } = problem;
}

/// <summary>A readable JSON document that is not a profiler trace at all (no traceEvents): a directory skips it.</summary>
public sealed class NotATraceException(string file, string field, string problem) : BundleException(file, field, problem);
