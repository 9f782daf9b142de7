using System.IO.Compression;
using System.Text.Json;

namespace Magneton.Core.Scaling;

/// <summary>What the scaled trace covers, for measure.json and power.csv.</summary>
internal sealed record TraceScaleResult(
    long UncompressedBytes,
    long Events,
    long BaseTimeNanoseconds,
    long SyncBeginStartNs,
    long SyncBeginEndNs,
    long SyncEndStartNs,
    long SyncEndEndNs,
    double OriginalIterationSeconds,
    double ScaledPassSeconds);

/// <summary>
/// Writes a scaled kineto.json.gz from a real one: the energy pass reduced to one iteration (the last), moved to where
/// the first began, then the template's events again for every added copy, shifted in time by one step, with fresh
/// correlation, external and flow ids and the copy's trace ids in the mg# range names. The events keep the profiler's
/// own text (CPU ops, runtime calls, kernels, GPU annotations, flows), so the reader parses what a real trace holds.
/// A planted operator's events are written once per chain operator, renamed, with kernel times scaled by its weight;
/// everything after it in that copy moves later by the extra time.
/// </summary>
internal static partial class TraceScaler
{
    const long Micro = 1000;

    public static TraceScaleResult Write(string sourceGz, StepStructure step, DataflowSource dataflow, DataflowScaleResult scaled,
        int copies, string outPath, string? uncompressedPath, CompressionLevel level)
    {
        using var doc = JsonDocument.Parse(Decompress(sourceGz), new JsonDocumentOptions { MaxDepth = 256 });
        var root = doc.RootElement;
        long baseTime = root.TryGetProperty("baseTimeNanoseconds", out var bt) && bt.TryGetInt64(out var b) ? b : 0;

        var events = new List<Ev>();
        foreach (var e in root.GetProperty("traceEvents").EnumerateArray()) events.Add(Parse(e, events.Count));
        var window = LastIteration.Of(events);
        var source = SourceEvents.Of(events, window);
        var template = Template.Of(step, dataflow, scaled, window, source.Kept);
        var ids = IdBlocks.Of(events, template.Events, scaled);

        foreach (var e in source.Kept.Concat(source.Meta)) Split(e);
        if (source.SyncBegin is not null) Split(source.SyncBegin);
        if (source.SyncEnd is not null) Split(source.SyncEnd);
        var plantEvents = PlantEventsOf(scaled, template.Events);

        long written, syncEndTs = 0;
        long count;
        using (var fileStream = new FileStream(outPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        using (var gzip = new GZipStream(fileStream, level))
        using (var raw = uncompressedPath is null ? null : new FileStream(uncompressedPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            var o = new Output(gzip, raw);
            var sink = new EventSink(o);
            o.Write("{\n");
            bool firstProp = true;
            foreach (var p in root.EnumerateObject())
            {
                if (!firstProp) o.Write(",\n");
                firstProp = false;
                o.Write("  \"");
                o.Write(p.Name);
                o.Write("\": ");
                if (!p.NameEquals("traceEvents"))
                {
                    o.Write(p.Value.GetRawText());
                    continue;
                }
                o.Write("[\n");
                foreach (var e in source.Meta) sink.Emit(e, 0);
                if (source.SyncBegin is not null) sink.Emit(source.SyncBegin, 0);
                foreach (var e in source.Kept) sink.Emit(e, window.Shift);

                long copyStart = template.Start + window.Shift;
                for (int r = 1; r < copies; r++)
                {
                    copyStart += template.Delta;
                    copyStart += WriteCopy(sink, r, copyStart, template, ids, scaled, plantEvents);
                }
                syncEndTs = WriteSyncEnd(sink, source.SyncEnd, window);
                o.Write("\n  ]");
            }
            o.Write("\n}\n");
            o.Flush();
            written = o.Bytes;
            count = sink.Count;
        }

        var syncBegin = source.SyncBegin;
        long sbStart = syncBegin is null ? baseTime + window.FirstStart - Micro : baseTime + syncBegin.Ts;
        long sbEnd = syncBegin is null ? sbStart : baseTime + syncBegin.End;
        long seStart = baseTime + syncEndTs;
        long seEnd = seStart + Math.Max(0, source.SyncEnd?.Dur ?? 0);
        double iterSeconds = (window.End - window.Start) / 1e9;
        return new TraceScaleResult(written, count, baseTime, sbStart, sbEnd, seStart, seEnd, iterSeconds, (seStart - sbEnd) / 1e9);
    }

    static byte[] Decompress(string sourceGz)
    {
        using var gz = new GZipStream(File.OpenRead(sourceGz), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>The mg# operator ranges, and the last iteration's window (the one every copy repeats).</summary>
    sealed record LastIteration(List<Ev> Ranges, int Last, List<Ev> Events, long Start, long End, long FirstStart)
    {
        /// <summary>How far the kept iteration moves back: to where the first iteration began.</summary>
        public long Shift => FirstStart - Start;

        public static LastIteration Of(List<Ev> events)
        {
            var ranges = events.Where(e => e.Iteration >= 0 && !e.Gpu).ToList();
            if (ranges.Count == 0) throw new InvalidOperationException("the trace has no mg# operator ranges");
            int last = ranges.Max(e => e.Iteration), first = ranges.Min(e => e.Iteration);
            var iter = ranges.Where(e => e.Iteration == last).ToList();
            return new LastIteration(ranges, last, iter, iter.Min(e => e.Ts), iter.Max(e => e.End),
                ranges.Where(e => e.Iteration == first).Min(e => e.Ts));
        }
    }

    /// <summary>What is written once: the last iteration's host events, the GPU work they launched, metadata and sync marks.</summary>
    sealed record SourceEvents(List<Ev> Kept, List<Ev> Meta, Ev? SyncBegin, Ev? SyncEnd)
    {
        public static SourceEvents Of(List<Ev> events, LastIteration window)
        {
            var kept = new List<Ev>();
            var launches = new HashSet<long>();
            foreach (var e in events)
            {
                if (e.Gpu || e.Sync || e.Ph == 'M') continue;
                if (e.Ph is not ('X' or 's')) continue;
                if (e.Ts < window.Start || e.Ts > window.End) continue;
                if (e.Iteration >= 0 && e.Iteration != window.Last) continue;
                if (e.Cat is "Trace" or "overhead") continue;
                kept.Add(e);
                if (e.Corr != long.MinValue) launches.Add(e.Corr);
            }
            foreach (var e in events)
            {
                if (!e.Gpu) continue;
                if (e.Ph == 'f' ? launches.Contains(e.Flow) : e.Corr != long.MinValue ? launches.Contains(e.Corr) : e.Iteration == window.Last)
                    kept.Add(e);
            }
            kept.Sort((x, y) => x.Index.CompareTo(y.Index));
            // 's' flows are host events; keep only those of kept launches.
            kept.RemoveAll(e => e.Ph == 's' && !launches.Contains(e.Flow));
            return new SourceEvents(kept, events.Where(e => e.Ph == 'M').ToList(),
                events.FirstOrDefault(e => e.Sync && e.Name == "mg_sync_begin"),
                events.FirstOrDefault(e => e.Sync && e.Name == "mg_sync_end"));
        }
    }

    /// <summary>The events every added copy repeats (the whole iteration, or the last decode step), where they start, and the step between copies.</summary>
    sealed record Template(List<Ev> Events, long Start, long Delta)
    {
        public static Template Of(StepStructure step, DataflowSource dataflow, DataflowScaleResult scaled, LastIteration window, List<Ev> kept)
        {
            var templateTrace = scaled.TemplateTraceIds;
            long tsT = step.Mode == ScalingMode.Job ? window.Start : window.Events.Where(e => templateTrace.Contains(e.TraceId)).Min(e => e.Ts);
            var templateLaunches = kept.Where(e => !e.Gpu && e.Ts >= tsT && e.Corr != long.MinValue).Select(e => e.Corr).ToHashSet();
            bool InTemplate(Ev e) => !e.Gpu
                ? e.Ts >= tsT
                : e.Ph == 'f' ? templateLaunches.Contains(e.Flow)
                : e.Corr != long.MinValue ? templateLaunches.Contains(e.Corr)
                : templateTrace.Contains(e.TraceId);
            var template = kept.Where(InTemplate).ToList();
            long extent = template.Max(e => e.End) - tsT;
            long period;
            if (step.Mode == ScalingMode.Job)
            {
                var prev = window.Ranges.Where(e => e.Iteration == window.Last - 1).ToList();
                period = prev.Count > 0 ? window.Start - prev.Min(e => e.Ts) : 0;
            }
            else
            {
                var priorTrace = new HashSet<int>();
                for (int i = step.PriorStart; i < step.Start; i++) if (dataflow.TraceIds[i] is int t) priorTrace.Add(t);
                var prior = window.Events.Where(e => priorTrace.Contains(e.TraceId)).ToList();
                period = prior.Count > 0 ? tsT - prior.Min(e => e.Ts) : 0;
            }
            return new Template(template, tsT, Math.Max(period, extent + Micro));
        }
    }

    /// <summary>Correlation, external and flow ids of copies: above every id of the source, one block per copy and chain op.</summary>
    readonly record struct IdBlocks(long CorrMin, long CorrMax, long CorrSpan, long ExtMin, long ExtMax, long ExtSpan, int Blocks)
    {
        public long CorrOffset(int copy) => CorrMax + 1 - CorrMin + (long)(copy - 1) * Blocks * CorrSpan;
        public long ExtOffset(int copy) => ExtMax + 1 - ExtMin + (long)(copy - 1) * Blocks * ExtSpan;

        public static IdBlocks Of(List<Ev> events, List<Ev> template, DataflowScaleResult scaled)
        {
            long corrMin = template.Where(e => e.Corr != long.MinValue).Select(e => e.Corr).DefaultIfEmpty(0).Min();
            long corrMax = events.Where(e => e.Corr != long.MinValue).Select(e => e.Corr).DefaultIfEmpty(0).Max();
            long corrSpan = template.Where(e => e.Corr != long.MinValue).Select(e => e.Corr).DefaultIfEmpty(0).Max() - corrMin + 1;
            long extMin = template.Where(e => e.Ext != long.MinValue).Select(e => e.Ext).DefaultIfEmpty(0).Min();
            long extMax = events.Where(e => e.Ext != long.MinValue).Select(e => e.Ext).DefaultIfEmpty(0).Max();
            long extSpan = template.Where(e => e.Ext != long.MinValue).Select(e => e.Ext).DefaultIfEmpty(0).Max() - extMin + 1;
            int blocks = 1 + scaled.Plants.Select(p => p.Chain.Count).DefaultIfEmpty(0).Max();
            return new IdBlocks(corrMin, corrMax, corrSpan, extMin, extMax, extSpan, blocks);
        }
    }

    /// <summary>Per planted op: its events in the template, and where its host and GPU time end.</summary>
    static Dictionary<int, PlantEvents> PlantEventsOf(DataflowScaleResult scaled, List<Ev> template)
    {
        var plantEvents = new Dictionary<int, PlantEvents>();
        foreach (var tid in scaled.Plants.Select(p => p.TemplateTraceId).ToHashSet())
        {
            var range = template.FirstOrDefault(e => !e.Gpu && e.TraceId == tid && e.Ph == 'X');
            if (range is null) continue;
            var host1 = template.Where(e => !e.Gpu && e.Ts >= range.Ts && e.Ts <= range.End && (e.Pid, e.Tid) == (range.Pid, range.Tid)).ToList();
            var corrs = host1.Where(e => e.Corr != long.MinValue).Select(e => e.Corr).ToHashSet();
            host1.RemoveAll(e => e.Ph == 's' && !corrs.Contains(e.Flow));
            var gpu = template.Where(e => e.Gpu && (e.Ph == 'f' ? corrs.Contains(e.Flow) : e.Corr != long.MinValue ? corrs.Contains(e.Corr) : e.TraceId == tid)).ToList();
            var set = host1.Concat(gpu).ToHashSet();
            long gpuStart = gpu.Where(e => e.Ph == 'X').Select(e => e.Ts).DefaultIfEmpty(range.End).Min();
            long gpuEnd = gpu.Where(e => e.Ph == 'X').Select(e => e.End).DefaultIfEmpty(range.End).Max();
            plantEvents[tid] = new PlantEvents(range.Ts, range.End, gpuStart, gpuEnd, set, template.Where(set.Contains).ToList());
        }
        return plantEvents;
    }

    /// <summary>
    /// Writes added copy <paramref name="r"/> starting at <paramref name="copyStart"/>: the template with fresh ids and
    /// the copy's trace ids, its planted ops as chains; returns the extra time the chains add to the copy.
    /// </summary>
    static long WriteCopy(EventSink sink, int r, long copyStart, Template template, IdBlocks ids, DataflowScaleResult scaled,
        Dictionary<int, PlantEvents> plantEvents)
    {
        long tsT = template.Start;
        var map = scaled.TraceMaps[r - 1];
        int MapTid(int t) => map.TryGetValue(t, out var m) ? m : t;
        long corrOffset = ids.CorrOffset(r), extOffset = ids.ExtOffset(r);
        var plants = scaled.Plants.Where(p => p.Copy == r && plantEvents.ContainsKey(p.TemplateTraceId))
            .Select(p => (Plant: p, Ev: plantEvents[p.TemplateTraceId])).OrderBy(p => p.Ev.HostStart).ToList();
        var extras = plants.Select(p => ChainExtra(p.Plant, p.Ev)).ToList();
        var skip = plants.SelectMany(p => p.Ev.Set).ToHashSet();
        long ExtraBefore(Ev e)
        {
            long x = 0;
            for (int k = 0; k < plants.Count; k++)
                if (e.Gpu ? e.Ts >= plants[k].Ev.GpuEnd : e.Ts > plants[k].Ev.HostEnd) x += extras[k];
            return x;
        }
        foreach (var e in template.Events)
        {
            if (skip.Contains(e)) continue;
            sink.Emit(e, copyStart - tsT + ExtraBefore(e), corrOffset, extOffset, MapTid);
        }
        for (int k = 0; k < plants.Count; k++)
        {
            var (plant, pe) = plants[k];
            long before = k == 0 ? 0 : extras.Take(k).Sum();
            long hostStep = pe.HostEnd - pe.HostStart + Micro;
            long gpuOffset = 0;
            for (int c = 0; c < plant.Chain.Count; c++)
            {
                var op = plant.Chain[c];
                long hostShift = copyStart - tsT + before + c * hostStep;
                long gpuShift = copyStart - tsT + before + gpuOffset + c * Micro;
                string Rename(string s) => RenameForChain(s, op);
                foreach (var e in pe.Ordered)
                    sink.Emit(e, e.Gpu ? gpuShift : hostShift, corrOffset + (c + 1) * ids.CorrSpan, extOffset + (c + 1) * ids.ExtSpan,
                        t => t == plant.TemplateTraceId ? op.TraceId : MapTid(t), e.Gpu && e.Ph == 'X' ? op.Weight : 1, Rename);
                gpuOffset += (long)((pe.GpuEnd - pe.GpuStart) * op.Weight);
            }
        }
        return extras.Sum();
    }

    /// <summary>The closing sync mark after everything written, as far after the last op as in the source; returns its ts.</summary>
    static long WriteSyncEnd(EventSink sink, Ev? syncEnd, LastIteration window)
    {
        if (syncEnd is null) return sink.MaxEnd + Micro;
        long gap = Math.Max(syncEnd.Ts - window.Ranges.Max(e => e.End), Micro);
        long ts = sink.MaxEnd + gap;
        sink.Emit(syncEnd, ts - syncEnd.Ts);
        return ts;
    }

    /// <summary>Writes events one after another into the traceEvents array, counting them and tracking the latest end.</summary>
    sealed class EventSink(Output o)
    {
        bool _first = true;
        public long Count { get; private set; }
        public long MaxEnd { get; private set; } = long.MinValue;

        public void Emit(Ev e, long shift, long corrOffset = 0, long extOffset = 0, Func<int, int>? tid = null,
            double durScale = 1, Func<string, string>? rename = null)
        {
            if (!_first) o.Write(",\n");
            _first = false;
            o.Write("  ");
            if (rename is not null)
            {
                var copy = new Ev { Raw = rename(e.Raw), Ph = e.Ph };
                Split(copy);
                Render(o, copy, shift, corrOffset, extOffset, tid, durScale);
            }
            else Render(o, e, shift, corrOffset, extOffset, tid, durScale);
            Count++;
            long end = e.Ts + shift + (long)(Math.Max(0, e.Dur) * durScale);
            if (end > MaxEnd) MaxEnd = end;
        }
    }

    sealed record PlantEvents(long HostStart, long HostEnd, long GpuStart, long GpuEnd, HashSet<Ev> Set, List<Ev> Ordered);

    static long ChainExtra(PlantTrace plant, PlantEvents pe)
    {
        long host = (plant.Chain.Count - 1) * (pe.HostEnd - pe.HostStart + Micro);
        long gpu = (long)((pe.GpuEnd - pe.GpuStart) * (plant.Chain.Sum(c => c.Weight) - 1)) + plant.Chain.Count * Micro;
        return Math.Max(host, gpu);
    }

    static string RenameForChain(string raw, ChainOp op)
    {
        // The range name, the CPU op and the kernel name become the chain operator's.
        int at = raw.IndexOf("\"mg#", StringComparison.Ordinal);
        if (at >= 0)
        {
            int h1 = raw.IndexOf('#', at + 4), h2 = h1 < 0 ? -1 : raw.IndexOf('#', h1 + 1), q = h2 < 0 ? -1 : raw.IndexOf('"', h2 + 1);
            if (q > h2 && h2 > 0) raw = string.Concat(raw.AsSpan(0, h2 + 1), op.Op, raw.AsSpan(q));
        }
        if (op.CpuOp.Length > 0) raw = raw.Replace("\"aten::silu\"", "\"" + op.CpuOp + "\"", StringComparison.Ordinal);
        foreach (var (from, to) in op.KernelRenames) raw = raw.Replace(from, to, StringComparison.Ordinal);
        return raw;
    }

}
