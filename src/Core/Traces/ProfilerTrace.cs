namespace Magneton.Core.Traces;

/// <summary>What a complete ("ph": "X") event of a PyTorch profiler (Kineto) trace is, from its category.</summary>
public enum TraceEventKind : byte
{
    /// <summary>cat "cpu_op": an ATen operator or autograd node.</summary>
    CpuOp,
    /// <summary>cat "user_annotation": record_function ranges, ProfilerStep#N, nccl:* collectives.</summary>
    Annotation,
    /// <summary>cat "cuda_runtime" (also the hip* calls of ROCm traces) or another "*_runtime".</summary>
    Runtime,
    /// <summary>cat "cuda_driver" (cuLaunchKernel of Triton kernels) or another "*_driver".</summary>
    Driver,
    /// <summary>cat "python_function": Python stack frames (with_stack=True); counted by the reader, not kept.</summary>
    Python,
    /// <summary>Any other host-side category ("overhead", uncategorised events).</summary>
    CpuOther,
    /// <summary>cat "kernel".</summary>
    Kernel,
    /// <summary>cat "gpu_memcpy".</summary>
    Memcpy,
    /// <summary>cat "gpu_memset".</summary>
    Memset,
    /// <summary>cat "gpu_user_annotation": annotations mirrored onto the GPU timeline.</summary>
    GpuAnnotation,
    /// <summary>Other device-side categories: "cuda_sync", "cuda_profiler_range", "gpu_*".</summary>
    GpuOther,
}

public static class TraceEventKinds
{
    public static bool IsDevice(TraceEventKind k) => k >= TraceEventKind.Kernel;

    /// <summary>Work that occupies the GPU: kernels, copies, fills. GPU time is the sum of these.</summary>
    public static bool IsGpuActivity(TraceEventKind k) => k is TraceEventKind.Kernel or TraceEventKind.Memcpy or TraceEventKind.Memset;

    public static bool IsApiCall(TraceEventKind k) => k is TraceEventKind.Runtime or TraceEventKind.Driver;

    public static bool IsOperator(TraceEventKind k) => k is TraceEventKind.CpuOp or TraceEventKind.Annotation;
}

/// <summary>
/// One complete event, times in integer nanoseconds (the trace's microseconds x 1000, or its nanoseconds where the
/// trace writes those). <see cref="Name"/> indexes <see cref="ProfilerTrace.Names"/>, <see cref="Thread"/>
/// <see cref="ProfilerTrace.Threads"/>.
/// </summary>
public readonly record struct TraceEvent(
    int Name,
    TraceEventKind Kind,
    int Thread,
    long Start,
    long Duration,
    long Correlation,
    int Device)
{
    public const long NoCorrelation = long.MinValue;
    public long End => Start + Duration;
    public bool HasCorrelation => Correlation != NoCorrelation;
}

/// <summary>A (pid, tid) pair as the trace writes it: numbers for processes and threads, or strings ("Spans").</summary>
public sealed record TraceThread(string Pid, string Tid);

/// <summary>
/// One profiler trace file (one rank), read in one streaming pass: the complete events in file order and the header
/// fields that say who recorded it. Flow events are folded into the events' correlation ids; instants and the
/// profiler's own span only move <see cref="RecordingEnd"/>.
/// </summary>
public sealed class ProfilerTrace
{
    /// <summary>The file as the user named it (what errors and reports print).</summary>
    public required string Path { get; init; }
    public required IReadOnlyList<string> Names { get; init; }
    public required IReadOnlyList<TraceThread> Threads { get; init; }
    public required TraceEvent[] Events { get; init; }

    /// <summary>distributedInfo.rank, when the trace has it.</summary>
    public int? Rank { get; init; }
    public int? WorldSize { get; init; }
    public string? Backend { get; init; }
    /// <summary>deviceProperties[0].name.</summary>
    public string? DeviceName { get; init; }
    public string? DisplayTimeUnit { get; init; }
    public long? BaseTimeNanoseconds { get; init; }
    public int? SchemaVersion { get; init; }
    /// <summary>
    /// True when ts values were too large to be microseconds (at or above 9e15: the year 2255 in microseconds since
    /// 1970), so the trace writes integer nanoseconds; Kineto itself always writes microseconds.
    /// </summary>
    public bool NanosecondTimestamps { get; init; }

    /// <summary>Entries of traceEvents, of any phase.</summary>
    public long EntryCount { get; init; }
    /// <summary>Complete events left out because they had no ts or no name.</summary>
    public long SkippedEvents { get; init; }
    /// <summary>python_function events (counted, not kept: the operator tree does not use them).</summary>
    public long PythonEvents { get; init; }
    /// <summary>Complete events whose dur was negative (read as 0).</summary>
    public long NegativeDurations { get; init; }
    /// <summary>Events linked to their launch through flow events ("ac2g") rather than args.correlation.</summary>
    public long FlowLinked { get; init; }
    /// <summary>
    /// Events of categories no reader analyses (neither CPU operators, runtime calls, device activity nor known host
    /// bookkeeping), by category: an accelerator kind this reader does not know shows up here, and a note names it.
    /// </summary>
    public IReadOnlyDictionary<string, long> OtherCategories { get; init; } = new Dictionary<string, long>();

    /// <summary>The end of the profiler's recording: its "Trace" span, its last instant, its last event.</summary>
    public long RecordingEnd { get; init; }
    public long CompressedBytes { get; init; }
    public long JsonBytes { get; init; }

    public string Name(int id) => Names[id];

    /// <summary>A note naming the categories of <see cref="OtherCategories"/>, or null when there are none.</summary>
    public string? OtherCategoriesNote()
    {
        if (OtherCategories.Count == 0) return null;
        var listed = OtherCategories.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Take(8)
            .Select(kv => $"\"{kv.Key}\" {kv.Value:N0}");
        long total = OtherCategories.Values.Sum();
        return $"{total:N0} event{(total == 1 ? "" : "s")} of {(OtherCategories.Count == 1 ? "a category" : "categories")} not analysed "
               + $"(neither operators, launches nor GPU work; another accelerator's?): {string.Join(", ", listed)}"
               + (OtherCategories.Count > 8 ? $" and {OtherCategories.Count - 8} more" : "");
    }
}
