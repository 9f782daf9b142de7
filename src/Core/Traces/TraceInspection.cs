using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using Magneton.Core.Bundles;

namespace Magneton.Core.Traces;

/// <summary><c>magneton inspect</c>'s report ("magneton.inspect/1"): what a trace, trace directory or bundle holds.</summary>
public sealed record TraceInspection(
    [property: JsonPropertyName("schema")] string Schema,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("ranks")] IReadOnlyList<RankSummary> Ranks,
    [property: JsonPropertyName("notes")] IReadOnlyList<string> Notes)
{
    public const string SchemaName = "magneton.inspect/1";

    /// <summary>For a capture bundle: the system named in dataflow.json.</summary>
    [JsonPropertyName("system")] public string? System { get; init; }
    /// <summary>For a capture bundle: operators of the semantic pass (dataflow.json nodes).</summary>
    [JsonPropertyName("dataflow_operators")] public int? DataflowOperators { get; init; }
    /// <summary>Ranks the input holds (all of them, also when --rank picked one).</summary>
    [JsonPropertyName("all_ranks")] public IReadOnlyList<int> AllRanks { get; init; } = [];
}

public sealed record RankSummary(
    [property: JsonPropertyName("rank")] int Rank,
    [property: JsonPropertyName("file")] string File,
    [property: JsonPropertyName("device")] string? Device,
    [property: JsonPropertyName("world_size")] int? WorldSize,
    [property: JsonPropertyName("events")] long Events,
    [property: JsonPropertyName("time_unit")] string TimeUnit,
    [property: JsonPropertyName("span_ms")] double SpanMs,
    [property: JsonPropertyName("gpu_time_ms")] double GpuTimeMs,
    [property: JsonPropertyName("gpu_busy_ms")] double GpuBusyMs,
    [property: JsonPropertyName("steps")] IReadOnlyList<StepSummary> Steps,
    [property: JsonPropertyName("last_complete_step")] int? LastCompleteStep,
    [property: JsonPropertyName("operators")] OperatorTable Operators,
    [property: JsonPropertyName("kernels")] KernelTable Kernels)
{
    [JsonPropertyName("memcpy")] public ActivityTotal Memcpy { get; init; } = new(0, 0);
    [JsonPropertyName("memset")] public ActivityTotal Memset { get; init; } = new(0, 0);
    [JsonPropertyName("launches")] public long Launches { get; init; }
    [JsonPropertyName("launch_apis")] public IReadOnlyList<NameCount> LaunchApis { get; init; } = [];
    [JsonPropertyName("host_threads")] public int HostThreads { get; init; }
    [JsonPropertyName("gpu_streams")] public int GpuStreams { get; init; }
    [JsonPropertyName("unlinked_gpu_activities")] public long UnlinkedGpuActivities { get; init; }
    [JsonPropertyName("skipped_events")] public long SkippedEvents { get; init; }
    [JsonPropertyName("negative_durations")] public long NegativeDurations { get; init; }
    [JsonPropertyName("python_events")] public long PythonEvents { get; init; }
}

public sealed record StepSummary(
    [property: JsonPropertyName("step")] int Step,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("wall_ms")] double WallMs,
    [property: JsonPropertyName("gpu_time_ms")] double GpuTimeMs,
    [property: JsonPropertyName("gpu_busy_ms")] double GpuBusyMs,
    [property: JsonPropertyName("operators")] int Operators,
    [property: JsonPropertyName("kernels")] int Kernels,
    [property: JsonPropertyName("complete")] bool Complete);

public sealed record OperatorTable(
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("distinct")] int Distinct,
    [property: JsonPropertyName("top")] IReadOnlyList<OperatorSummary> Top);

public sealed record OperatorSummary(
    [property: JsonPropertyName("op")] string Op,
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("gpu_time_ms")] double GpuTimeMs,
    [property: JsonPropertyName("self_gpu_time_ms")] double SelfGpuTimeMs,
    [property: JsonPropertyName("cpu_time_ms")] double CpuTimeMs);

public sealed record KernelTable(
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("distinct")] int Distinct,
    [property: JsonPropertyName("top")] IReadOnlyList<KernelSummary> Top);

public sealed record KernelSummary(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("gpu_time_ms")] double GpuTimeMs);

public sealed record ActivityTotal(
    [property: JsonPropertyName("count")] long Count,
    [property: JsonPropertyName("gpu_time_ms")] double GpuTimeMs);

public sealed record NameCount(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("count")] long Count);

/// <summary>Builds and prints <see cref="TraceInspection"/>s.</summary>
public static class TraceInspector
{
    /// <summary>A trace file, a directory of per-rank traces, or a capture bundle directory (its kineto.json.gz).</summary>
    public static TraceInspection Inspect(string path, int? rank = null, int top = 15, CancellationToken cancel = default)
    {
        if (Directory.Exists(path) && TraceInput.IsCaptureBundle(path))
        {
            var kineto = System.IO.Path.Combine(path, BundleFiles.Kineto);
            if (!File.Exists(kineto)) throw new BundleException(path, BundleFiles.Kineto, "is missing");
            var trace = ProfilerTraceReader.Read(kineto, kineto, cancel);
            if (rank is { } r && r != (trace.Rank ?? 0))
                throw new BundleException(path, "rank", $"has no rank {r} (ranks: {trace.Rank ?? 0})");
            string? system = null;
            int? operators = null;
            var dataflowPath = System.IO.Path.Combine(path, BundleFiles.Dataflow);
            if (File.Exists(dataflowPath))
            {
                var dataflow = DataflowReader.Read(dataflowPath);
                system = dataflow.System;
                operators = dataflow.Nodes.Count;
            }
            var notes = new List<string>();
            var index = TraceIndex.Build(trace);
            if (trace.OtherCategoriesNote() is { } other) notes.Add(other);
            if (!index.HasProfilerSteps)
                notes.Add("a capture bundle's trace has no ProfilerStep#N: its iterations are the probe's mg#<iteration>#... ranges; the step table is the whole trace");
            return new TraceInspection(TraceInspection.SchemaName, path, "bundle", [Summarise(trace.Rank ?? 0, index, top)], notes)
            {
                System = system,
                DataflowOperators = operators,
                AllRanks = [trace.Rank ?? 0],
            };
        }

        var input = TraceInput.Load(path, cancel);
        var picked = rank is null ? input.Ranks : [input.Select(rank)];
        var summaries = picked.Select(r => Summarise(r.Rank, r.Index, top)).ToList();
        var allNotes = new List<string>(input.Notes);
        foreach (var r in picked)
        {
            if (r.Trace.OtherCategoriesNote() is { } other) allNotes.Add($"rank {r.Rank}: {other}");
            if (!r.Index.HasProfilerSteps)
                allNotes.Add($"rank {r.Rank}: no ProfilerStep#N in the trace; the step table is the whole trace");
            else if (r.Index.LastCompleteStep is null)
                allNotes.Add($"rank {r.Rank}: no step ends before the recording does (the profiler stopped inside every step)");
        }
        return new TraceInspection(TraceInspection.SchemaName, path, input.IsDirectory ? "trace-directory" : "trace", summaries, allNotes)
        {
            AllRanks = input.Ranks.Select(r => r.Rank).ToList(),
        };
    }

    public static RankSummary Summarise(int rank, TraceIndex index, int top)
    {
        var t = index.Trace;
        var events = t.Events;
        var c = new RankTally(index);
        for (int i = 0; i < events.Length; i++) c.Add(i);
        if (c.SpanStart == long.MaxValue) c.SpanStart = c.SpanEnd = 0;

        var stepSummaries = index.Steps.Select((s, k) => new StepSummary(s.Number, s.Name, Ms(s.Duration), Ms(c.StepGpu[k]),
            Ms(Busy(t, c.StepActivities[k])), c.StepOps[k], c.StepKernels[k], s.Complete)).ToList();
        var all = new List<int>();
        for (int i = 0; i < events.Length; i++)
            if (TraceEventKinds.IsGpuActivity(events[i].Kind)) all.Add(i);

        var opTop = c.OpsByName
            .OrderByDescending(kv => kv.Value.Gpu).ThenByDescending(kv => kv.Value.Cpu).ThenBy(kv => t.Names[kv.Key], StringComparer.Ordinal)
            .Take(top)
            .Select(kv => new OperatorSummary(t.Names[kv.Key], kv.Value.Count, Ms(kv.Value.Gpu), Ms(kv.Value.Self), Ms(kv.Value.Cpu)))
            .ToList();
        var kernelTop = c.KernelsByName
            .OrderByDescending(kv => kv.Value.Ns).ThenBy(kv => t.Names[kv.Key], StringComparer.Ordinal)
            .Take(top)
            .Select(kv => new KernelSummary(t.Names[kv.Key], kv.Value.Count, Ms(kv.Value.Ns)))
            .ToList();

        return new RankSummary(rank, t.Path, t.DeviceName, t.WorldSize, t.EntryCount, t.NanosecondTimestamps ? "ns" : "us",
            Ms(c.SpanEnd - c.SpanStart), Ms(c.GpuTime), Ms(Busy(t, all)), stepSummaries,
            index.HasProfilerSteps ? index.LastCompleteStep?.Number : null,
            new OperatorTable(c.Operators, c.OpsByName.Count, opTop),
            new KernelTable(c.Kernels, c.KernelsByName.Count, kernelTop))
        {
            Memcpy = new ActivityTotal(c.Memcpy, Ms(c.MemcpyNs)),
            Memset = new ActivityTotal(c.Memset, Ms(c.MemsetNs)),
            Launches = c.Launches,
            LaunchApis = c.Apis.OrderByDescending(kv => kv.Value).ThenBy(kv => t.Names[kv.Key], StringComparer.Ordinal)
                .Select(kv => new NameCount(t.Names[kv.Key], kv.Value)).ToList(),
            HostThreads = c.HostThreads.Count,
            GpuStreams = c.Streams.Count,
            UnlinkedGpuActivities = index.UnlinkedActivities,
            SkippedEvents = t.SkippedEvents,
            NegativeDurations = t.NegativeDurations,
            PythonEvents = t.PythonEvents,
        };
    }

    /// <summary>One pass over a rank's events: totals, per-name tables and per-step figures.</summary>
    private sealed class RankTally(TraceIndex index)
    {
        public long SpanStart = long.MaxValue, SpanEnd = long.MinValue, GpuTime;
        public long Kernels, Memcpy, MemcpyNs, Memset, MemsetNs, Launches, Operators;
        public readonly Dictionary<int, (long Count, long Ns)> KernelsByName = new();
        public readonly Dictionary<int, (long Count, long Gpu, long Self, long Cpu)> OpsByName = new();
        public readonly Dictionary<int, long> Apis = new();
        public readonly HashSet<int> HostThreads = new();
        public readonly HashSet<int> Streams = new();
        public readonly long[] StepGpu = new long[index.Steps.Count];
        public readonly int[] StepKernels = new int[index.Steps.Count];
        public readonly int[] StepOps = new int[index.Steps.Count];
        public readonly List<int>[] StepActivities = index.Steps.Select(_ => new List<int>()).ToArray();

        public void Add(int i)
        {
            var events = index.Trace.Events;
            ref readonly var ev = ref events[i];
            SpanStart = Math.Min(SpanStart, ev.Start);
            SpanEnd = Math.Max(SpanEnd, ev.End);
            int step = index.StepOf[i];
            if (TraceEventKinds.IsGpuActivity(ev.Kind))
            {
                GpuTime += ev.Duration;
                Streams.Add(ev.Thread);
                if (ev.Kind == TraceEventKind.Kernel)
                {
                    Kernels++;
                    KernelsByName.TryGetValue(ev.Name, out var k);
                    KernelsByName[ev.Name] = (k.Count + 1, k.Ns + ev.Duration);
                }
                else if (ev.Kind == TraceEventKind.Memcpy) { Memcpy++; MemcpyNs += ev.Duration; }
                else { Memset++; MemsetNs += ev.Duration; }
                if (step >= 0)
                {
                    StepGpu[step] += ev.Duration;
                    if (ev.Kind == TraceEventKind.Kernel) StepKernels[step]++;
                    StepActivities[step].Add(i);
                }
            }
            else if (!TraceEventKinds.IsDevice(ev.Kind))
            {
                HostThreads.Add(ev.Thread);
                if (TraceEventKinds.IsOperator(ev.Kind) && index.IsNode[i])
                {
                    Operators++;
                    OpsByName.TryGetValue(ev.Name, out var o);
                    // Inclusive GPU time counts a name once per outermost occurrence (no double count when it nests in itself).
                    bool nestedInSame = false;
                    for (int p = index.NodeParent[i]; p >= 0; p = index.NodeParent[p])
                        if (events[p].Name == ev.Name) { nestedInSame = true; break; }
                    OpsByName[ev.Name] = (o.Count + 1, o.Gpu + (nestedInSame ? 0 : index.InclusiveGpu[i]), o.Self + index.SelfGpu[i],
                        o.Cpu + (nestedInSame ? 0 : ev.Duration));
                    if (step >= 0) StepOps[step]++;
                }
                else if (TraceEventKinds.IsApiCall(ev.Kind) && IsLaunch(index, i))
                {
                    Launches++;
                    Apis.TryGetValue(ev.Name, out long c);
                    Apis[ev.Name] = c + 1;
                }
            }
        }
    }

    /// <summary>An API call that launched GPU work in this trace (or whose name says it launches some).</summary>
    private static bool IsLaunch(TraceIndex index, int e)
    {
        var name = index.Name(e);
        return name.Contains("Launch", StringComparison.Ordinal) || name.Contains("Memcpy", StringComparison.Ordinal)
               || name.Contains("Memset", StringComparison.Ordinal);
    }

    /// <summary>Time the GPU was busy: the union of the activities' intervals on each device, summed over devices.</summary>
    internal static long Busy(ProfilerTrace t, List<int> activities)
    {
        if (activities.Count == 0) return 0;
        var events = t.Events;
        var byDevice = activities.GroupBy(i => events[i].Device >= 0 ? "d" + events[i].Device : "p" + t.Threads[events[i].Thread].Pid);
        long busy = 0;
        foreach (var device in byDevice)
        {
            var spans = device.Select(i => (events[i].Start, events[i].End)).OrderBy(s => s.Start).ToList();
            long curStart = spans[0].Start, curEnd = spans[0].End;
            foreach (var (s, e) in spans.Skip(1))
            {
                if (s > curEnd)
                {
                    busy += curEnd - curStart;
                    curStart = s;
                    curEnd = e;
                }
                else if (e > curEnd) curEnd = e;
            }
            busy += curEnd - curStart;
        }
        return busy;
    }

    internal static double Ms(long ns) => Math.Round(ns / 1e6, 4);

    /// <summary>The terminal text of an inspection.</summary>
    public static string Render(TraceInspection r)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        string kind = r.Kind switch
        {
            "bundle" => "capture bundle",
            "trace-directory" => $"directory of {r.AllRanks.Count} profiler trace{(r.AllRanks.Count == 1 ? "" : "s")}",
            _ => "PyTorch profiler trace",
        };
        sb.AppendLine(ci, $"{r.Path}: {kind}");
        if (r.System is not null) sb.AppendLine(ci, $"  system {r.System}; {r.DataflowOperators} operators in dataflow.json");
        if (r.AllRanks.Count > 1 || r.Ranks.Count > 1)
            sb.AppendLine(($"  ranks: {string.Join(", ", r.AllRanks)}" + (r.Ranks.Count < r.AllRanks.Count ? $" (showing {string.Join(", ", r.Ranks.Select(x => x.Rank))})" : "")));
        foreach (var rank in r.Ranks) RenderRank(sb, rank);
        foreach (var n in r.Notes) sb.AppendLine("note: " + n);
        return sb.ToString();
    }

    private static void RenderRank(StringBuilder sb, RankSummary r)
    {
        var ci = CultureInfo.InvariantCulture;
        sb.AppendLine();
        string world = r.WorldSize is { } w ? $" of {w}" : "";
        sb.AppendLine(($"rank {r.Rank}{world}: {Path.GetFileName(r.File)}{(r.Device is null ? "" : " on " + r.Device)}, {r.Events:N0} events" +
                          (r.TimeUnit == "ns" ? ", nanosecond timestamps" : "")));
        double util = r.SpanMs > 0 ? r.GpuBusyMs / r.SpanMs : 0;
        sb.AppendLine(ci, $"  span {r.SpanMs:F3} ms; GPU busy {r.GpuBusyMs:F3} ms ({util:P0} of the span); GPU time {r.GpuTimeMs:F3} ms " +
                          $"({r.Kernels.Count:N0} kernels, {r.Memcpy.Count:N0} memcpy, {r.Memset.Count:N0} memset on {r.GpuStreams} streams)");
        sb.AppendLine(($"  {r.Operators.Count:N0} operators ({r.Operators.Distinct:N0} distinct) on {r.HostThreads} host threads; {r.Launches:N0} launches" +
                          (r.LaunchApis.Count > 0 ? $" ({string.Join(", ", r.LaunchApis.Take(4).Select(a => $"{a.Name} {a.Count:N0}"))})" : "")));
        if (r.UnlinkedGpuActivities > 0) sb.AppendLine(ci, $"  {r.UnlinkedGpuActivities:N0} GPU activities have no launch in the trace (not in any step)");
        if (r.SkippedEvents > 0) sb.AppendLine(ci, $"  {r.SkippedEvents:N0} events without ts or name were skipped");

        bool whole = r.Steps.Count == 1 && r.Steps[0].Step < 0;
        if (whole) sb.AppendLine("  steps: none (no ProfilerStep#N)");
        else
        {
            sb.AppendLine(($"  steps: {r.Steps.Count}" + (r.LastCompleteStep is { } last ? $", last complete ProfilerStep#{last}" : ", none complete")));
            sb.AppendLine(ci, $"    {"step",-20} {"wall ms",10} {"GPU ms",10} {"busy ms",10} {"ops",7} {"kernels",7}");
            foreach (var s in r.Steps)
                sb.AppendLine(ci, $"    {s.Name + (s.Complete ? "" : " (cut)"),-20} {s.WallMs,10:F3} {s.GpuTimeMs,10:F3} {s.GpuBusyMs,10:F3} {s.Operators,7} {s.Kernels,7}");
        }
        if (r.Operators.Top.Count > 0)
        {
            sb.AppendLine("  top operators by GPU time (inclusive; self = kernels the operator launches itself):");
            sb.AppendLine(ci, $"    {"GPU ms",10} {"self ms",10} {"CPU ms",10} {"count",7}  op");
            foreach (var o in r.Operators.Top)
                sb.AppendLine(ci, $"    {o.GpuTimeMs,10:F3} {o.SelfGpuTimeMs,10:F3} {o.CpuTimeMs,10:F3} {o.Count,7}  {Clip(o.Op, 90)}");
        }
        if (r.Kernels.Top.Count > 0)
        {
            sb.AppendLine(ci, $"  top kernels by GPU time ({r.Kernels.Distinct:N0} distinct):");
            sb.AppendLine(ci, $"    {"GPU ms",10} {"count",7}  kernel");
            foreach (var k in r.Kernels.Top)
                sb.AppendLine(ci, $"    {k.GpuTimeMs,10:F3} {k.Count,7}  {Clip(k.Name, 100)}");
        }
    }

    internal static string Clip(string s, int n) => s.Length <= n ? s : s[..(n - 3)] + "...";
}
