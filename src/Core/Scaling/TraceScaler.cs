using System.Buffers.Text;
using System.IO.Compression;
using System.Text;
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
internal static class TraceScaler
{
    const long Micro = 1000;

    enum Slot : byte { Ts, Dur, Corr, Ext, Flow, Tid }

    /// <summary>An event of the source trace, split around the numbers a copy changes.</summary>
    sealed class Ev
    {
        public required string Raw;
        public byte[][] Literals = [];
        public Slot[] Slots = [];
        public long[] SlotValues = [];
        public bool Gpu;
        public char Ph;
        public string Cat = "";
        public string Name = "";
        public long Ts, Dur;
        public long Corr = long.MinValue, Ext = long.MinValue, Flow = long.MinValue;
        public int Iteration = -1, TraceId = -1;
        public bool Sync;
        public long Pid, Tid;
        public int Index;

        public long End => Ts + Math.Max(0, Dur);
    }

    public static TraceScaleResult Write(string sourceGz, StepStructure step, DataflowSource dataflow, DataflowScaleResult scaled,
        int copies, string outPath, string? uncompressedPath, CompressionLevel level)
    {
        byte[] json;
        using (var gz = new GZipStream(File.OpenRead(sourceGz), CompressionMode.Decompress))
        using (var ms = new MemoryStream())
        {
            gz.CopyTo(ms);
            json = ms.ToArray();
        }
        using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 });
        var root = doc.RootElement;
        long baseTime = root.TryGetProperty("baseTimeNanoseconds", out var bt) && bt.TryGetInt64(out var b) ? b : 0;

        var events = new List<Ev>();
        foreach (var e in root.GetProperty("traceEvents").EnumerateArray()) events.Add(Parse(e, events.Count));

        var ranges = events.Where(e => e.Iteration >= 0 && !e.Gpu).ToList();
        if (ranges.Count == 0) throw new InvalidOperationException("the trace has no mg# operator ranges");
        int last = ranges.Max(e => e.Iteration), first = ranges.Min(e => e.Iteration);
        var iter = ranges.Where(e => e.Iteration == last).ToList();
        long cs = iter.Min(e => e.Ts), ce = iter.Max(e => e.End);
        long cs0 = ranges.Where(e => e.Iteration == first).Min(e => e.Ts);
        long shift0 = cs0 - cs;

        // The last iteration: host events inside its window, GPU work launched from them, the GPU ranges of its ops.
        var kept = new List<Ev>();
        var launches = new HashSet<long>();
        foreach (var e in events)
        {
            if (e.Gpu || e.Sync || e.Ph == 'M') continue;
            if (e.Ph is not ('X' or 's')) continue;
            if (e.Ts < cs || e.Ts > ce) continue;
            if (e.Iteration >= 0 && e.Iteration != last) continue;
            if (e.Cat is "Trace" or "overhead") continue;
            kept.Add(e);
            if (e.Corr != long.MinValue) launches.Add(e.Corr);
        }
        foreach (var e in events)
        {
            if (!e.Gpu) continue;
            if (e.Ph == 'f' ? launches.Contains(e.Flow) : e.Corr != long.MinValue ? launches.Contains(e.Corr) : e.Iteration == last)
                kept.Add(e);
        }
        kept.Sort((x, y) => x.Index.CompareTo(y.Index));
        // 's' flows are host events; keep only those of kept launches.
        kept.RemoveAll(e => e.Ph == 's' && !launches.Contains(e.Flow));
        var meta = events.Where(e => e.Ph == 'M').ToList();
        var syncBegin = events.FirstOrDefault(e => e.Sync && e.Name == "mg_sync_begin");
        var syncEnd = events.FirstOrDefault(e => e.Sync && e.Name == "mg_sync_end");

        // The template: the whole iteration (job copies) or the last step's events (decode copies).
        var templateTrace = scaled.TemplateTraceIds;
        long tsT = step.Mode == ScalingMode.Job ? cs : iter.Where(e => templateTrace.Contains(e.TraceId)).Min(e => e.Ts);
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
            var prev = ranges.Where(e => e.Iteration == last - 1).ToList();
            period = prev.Count > 0 ? cs - prev.Min(e => e.Ts) : 0;
        }
        else
        {
            var priorTrace = new HashSet<int>();
            for (int i = step.PriorStart; i < step.Start; i++) if (dataflow.TraceIds[i] is int t) priorTrace.Add(t);
            var prior = iter.Where(e => priorTrace.Contains(e.TraceId)).ToList();
            period = prior.Count > 0 ? tsT - prior.Min(e => e.Ts) : 0;
        }
        long delta = Math.Max(period, extent + Micro);

        // Correlation, external and flow ids of copies: above every id of the source, one block per copy and chain op.
        long corrMin = template.Where(e => e.Corr != long.MinValue).Select(e => e.Corr).DefaultIfEmpty(0).Min();
        long corrMax = events.Where(e => e.Corr != long.MinValue).Select(e => e.Corr).DefaultIfEmpty(0).Max();
        long corrSpan = template.Where(e => e.Corr != long.MinValue).Select(e => e.Corr).DefaultIfEmpty(0).Max() - corrMin + 1;
        long extMin = template.Where(e => e.Ext != long.MinValue).Select(e => e.Ext).DefaultIfEmpty(0).Min();
        long extMax = events.Where(e => e.Ext != long.MinValue).Select(e => e.Ext).DefaultIfEmpty(0).Max();
        long extSpan = template.Where(e => e.Ext != long.MinValue).Select(e => e.Ext).DefaultIfEmpty(0).Max() - extMin + 1;
        int blocks = 1 + scaled.Plants.Select(p => p.Chain.Count).DefaultIfEmpty(0).Max();

        foreach (var e in kept.Concat(meta)) Split(e);
        if (syncBegin is not null) Split(syncBegin);
        if (syncEnd is not null) Split(syncEnd);

        // Per planted op: its events in the template, and where its host and GPU time end.
        var plantIds = scaled.Plants.Select(p => p.TemplateTraceId).ToHashSet();
        var plantEvents = new Dictionary<int, PlantEvents>();
        foreach (var tid in plantIds)
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
            plantEvents[tid] = new PlantEvents(range.Ts, range.End, gpuStart, gpuEnd, set,
                template.Where(set.Contains).ToList());
        }

        long written = 0, count = 0;
        long maxEnd = long.MinValue, syncEndTs = 0;
        var fileStream = new FileStream(outPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        var gzip = new GZipStream(fileStream, level);
        var raw = uncompressedPath is null ? null : new FileStream(uncompressedPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        var o = new Output(gzip, raw);
        try
        {
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
                bool firstEvent = true;
                void Emit(Ev e, long shift, long corrOffset, long extOffset, Func<int, int>? tid, double durScale, Func<string, string>? rename)
                {
                    if (!firstEvent) o.Write(",\n");
                    firstEvent = false;
                    o.Write("  ");
                    if (rename is not null)
                    {
                        var copy = new Ev { Raw = rename(e.Raw), Ph = e.Ph };
                        Split(copy);
                        Render(o, copy, shift, corrOffset, extOffset, tid, durScale);
                    }
                    else Render(o, e, shift, corrOffset, extOffset, tid, durScale);
                    count++;
                    long end = e.Ts + shift + (long)(Math.Max(0, e.Dur) * durScale);
                    if (end > maxEnd) maxEnd = end;
                }
                foreach (var e in meta) Emit(e, 0, 0, 0, null, 1, null);
                if (syncBegin is not null) Emit(syncBegin, 0, 0, 0, null, 1, null);
                foreach (var e in kept) Emit(e, shift0, 0, 0, null, 1, null);

                long copyStart = tsT + shift0;
                for (int r = 1; r < copies; r++)
                {
                    copyStart += delta;
                    var map = scaled.TraceMaps[r - 1];
                    int MapTid(int t) => map.TryGetValue(t, out var m) ? m : t;
                    long corrOffset = corrMax + 1 - corrMin + (long)(r - 1) * blocks * corrSpan;
                    long extOffset = extMax + 1 - extMin + (long)(r - 1) * blocks * extSpan;
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
                    foreach (var e in template)
                    {
                        if (skip.Contains(e)) continue;
                        Emit(e, copyStart - tsT + ExtraBefore(e), corrOffset, extOffset, MapTid, 1, null);
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
                                Emit(e, e.Gpu ? gpuShift : hostShift, corrOffset + (c + 1) * corrSpan, extOffset + (c + 1) * extSpan,
                                    t => t == plant.TemplateTraceId ? op.TraceId : MapTid(t), e.Gpu && e.Ph == 'X' ? op.Weight : 1, Rename);
                            gpuOffset += (long)((pe.GpuEnd - pe.GpuStart) * op.Weight);
                        }
                    }
                    copyStart += extras.Sum();
                }
                if (syncEnd is not null)
                {
                    long gap = Math.Max(syncEnd.Ts - ranges.Max(e => e.End), Micro);
                    syncEndTs = maxEnd + gap;
                    Emit(syncEnd, syncEndTs - syncEnd.Ts, 0, 0, null, 1, null);
                }
                else syncEndTs = maxEnd + Micro;
                o.Write("\n  ]");
            }
            o.Write("\n}\n");
            o.Flush();
            written = o.Bytes;
        }
        finally
        {
            gzip.Dispose();
            fileStream.Dispose();
            raw?.Dispose();
        }

        long sbStart = syncBegin is null ? baseTime + cs0 - Micro : baseTime + syncBegin.Ts;
        long sbEnd = syncBegin is null ? sbStart : baseTime + syncBegin.End;
        long seStart = baseTime + syncEndTs;
        long seEnd = seStart + Math.Max(0, syncEnd?.Dur ?? 0);
        double iterSeconds = (ce - cs) / 1e9;
        return new TraceScaleResult(written, count, baseTime, sbStart, sbEnd, seStart, seEnd, iterSeconds, (seStart - sbEnd) / 1e9);
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

    static Ev Parse(JsonElement e, int index)
    {
        var ev = new Ev { Raw = e.GetRawText(), Index = index };
        if (e.TryGetProperty("ph", out var ph) && ph.ValueKind == JsonValueKind.String) ev.Ph = ph.GetString() is { Length: 1 } s ? s[0] : '?';
        if (e.TryGetProperty("cat", out var cat) && cat.ValueKind == JsonValueKind.String) ev.Cat = cat.GetString()!;
        if (e.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String) ev.Name = name.GetString()!;
        if (e.TryGetProperty("pid", out var pid) && pid.ValueKind == JsonValueKind.Number) ev.Pid = pid.GetInt64();
        if (e.TryGetProperty("tid", out var tid) && tid.ValueKind == JsonValueKind.Number) ev.Tid = tid.GetInt64();
        if (e.TryGetProperty("ts", out var ts) && ts.ValueKind == JsonValueKind.Number) ev.Ts = Nanos(ts);
        if (e.TryGetProperty("dur", out var dur) && dur.ValueKind == JsonValueKind.Number) ev.Dur = Nanos(dur);
        if (e.TryGetProperty("args", out var args) && args.ValueKind == JsonValueKind.Object)
        {
            if (args.TryGetProperty("correlation", out var c) && c.TryGetInt64(out var cv)) ev.Corr = cv;
            if (args.TryGetProperty("External id", out var x) && x.TryGetInt64(out var xv)) ev.Ext = xv;
        }
        if (ev.Ph is 's' or 'f' && e.TryGetProperty("id", out var id) && id.TryGetInt64(out var iv)) ev.Flow = iv;
        ev.Gpu = ev.Cat is "kernel" or "gpu_memcpy" or "gpu_memset" or "gpu_user_annotation" || ev.Ph == 'f';
        if (ev.Cat is "user_annotation" or "gpu_user_annotation" && ev.Name.StartsWith("mg#", StringComparison.Ordinal))
        {
            var parts = ev.Name.Split('#', 4);
            if (parts.Length == 4 && int.TryParse(parts[1], out var it) && int.TryParse(parts[2], out var t))
            {
                ev.Iteration = it;
                ev.TraceId = t;
            }
        }
        ev.Sync = ev.Cat == "user_annotation" && ev.Name is "mg_sync_begin" or "mg_sync_end";
        return ev;
    }

    static long Nanos(JsonElement number)
    {
        var text = Encoding.UTF8.GetBytes(number.GetRawText());
        return Bundles.TraceTime.TryParseMicrosAsNanos(text, out var ns) ? ns : (long)Math.Round(number.GetDouble() * 1000);
    }

    /// <summary>Splits the raw text of an event around its ts, dur, ids and mg# trace id.</summary>
    static void Split(Ev e)
    {
        var raw = e.Raw;
        var slots = new List<(int Start, int End, Slot Kind, long Value)>();
        void Number(string key, Slot kind)
        {
            int k = raw.IndexOf(key, StringComparison.Ordinal);
            if (k < 0) return;
            int s = k + key.Length;
            while (s < raw.Length && raw[s] == ' ') s++;
            int end = s;
            while (end < raw.Length && (char.IsAsciiDigit(raw[end]) || raw[end] is '.' or '-' or 'e' or 'E' or '+')) end++;
            if (end == s) return;
            var text = raw.AsSpan(s, end - s);
            long value;
            if (kind is Slot.Ts or Slot.Dur)
            {
                if (!Bundles.TraceTime.TryParseMicrosAsNanos(Encoding.UTF8.GetBytes(text.ToString()), out value)) return;
            }
            else if (!long.TryParse(text, out value)) return;
            slots.Add((s, end, kind, value));
        }
        Number("\"ts\":", Slot.Ts);
        Number("\"dur\":", Slot.Dur);
        Number("\"correlation\":", Slot.Corr);
        Number("\"External id\":", Slot.Ext);
        if (e.Ph is 's' or 'f') Number("\"id\":", Slot.Flow);
        int mg = raw.IndexOf("\"mg#", StringComparison.Ordinal);
        if (mg >= 0)
        {
            int h1 = raw.IndexOf('#', mg + 4);
            int h2 = h1 < 0 ? -1 : raw.IndexOf('#', h1 + 1);
            if (h2 > h1 + 1 && int.TryParse(raw.AsSpan(h1 + 1, h2 - h1 - 1), out var t)) slots.Add((h1 + 1, h2, Slot.Tid, t));
        }
        slots.Sort((a, b) => a.Start.CompareTo(b.Start));
        var literals = new byte[slots.Count + 1][];
        int pos = 0;
        for (int i = 0; i < slots.Count; i++)
        {
            literals[i] = Encoding.UTF8.GetBytes(raw[pos..slots[i].Start]);
            pos = slots[i].End;
        }
        literals[^1] = Encoding.UTF8.GetBytes(raw[pos..]);
        e.Literals = literals;
        e.Slots = slots.Select(s => s.Kind).ToArray();
        e.SlotValues = slots.Select(s => s.Value).ToArray();
    }

    static void Render(Output o, Ev e, long shift, long corrOffset, long extOffset, Func<int, int>? tid, double durScale)
    {
        for (int i = 0; i < e.Slots.Length; i++)
        {
            o.Write(e.Literals[i]);
            long v = e.SlotValues[i];
            switch (e.Slots[i])
            {
                case Slot.Ts: o.Micros(v + shift); break;
                case Slot.Dur: o.Micros(durScale == 1 ? v : (long)Math.Round(v * durScale)); break;
                case Slot.Corr or Slot.Flow: o.Integer(corrOffset == 0 ? v : v + corrOffset); break;
                case Slot.Ext: o.Integer(extOffset == 0 ? v : v + extOffset); break;
                case Slot.Tid: o.Integer(tid is null ? v : tid((int)v)); break;
            }
        }
        o.Write(e.Literals[^1]);
    }

    /// <summary>A buffered writer to the gzip stream (and an uncompressed copy), counting bytes.</summary>
    sealed class Output(Stream compressed, Stream? plain)
    {
        readonly byte[] _buffer = new byte[1 << 20];
        int _used;
        public long Bytes { get; private set; }

        public void Write(string s) => Write(Encoding.UTF8.GetBytes(s));

        public void Write(ReadOnlySpan<byte> bytes)
        {
            if (_used + bytes.Length > _buffer.Length) Flush();
            if (bytes.Length > _buffer.Length)
            {
                compressed.Write(bytes);
                plain?.Write(bytes);
                Bytes += bytes.Length;
                return;
            }
            bytes.CopyTo(_buffer.AsSpan(_used));
            _used += bytes.Length;
        }

        public void Integer(long v)
        {
            if (_used + 24 > _buffer.Length) Flush();
            Utf8Formatter.TryFormat(v, _buffer.AsSpan(_used), out int n);
            _used += n;
        }

        /// <summary>Nanoseconds as microseconds with three decimals, as Kineto writes them.</summary>
        public void Micros(long ns)
        {
            if (_used + 32 > _buffer.Length) Flush();
            if (ns < 0)
            {
                _buffer[_used++] = (byte)'-';
                ns = -ns;
            }
            Utf8Formatter.TryFormat(ns / 1000, _buffer.AsSpan(_used), out int n);
            _used += n;
            _buffer[_used++] = (byte)'.';
            long f = ns % 1000;
            _buffer[_used++] = (byte)('0' + f / 100);
            _buffer[_used++] = (byte)('0' + f / 10 % 10);
            _buffer[_used++] = (byte)('0' + f % 10);
        }

        public void Flush()
        {
            compressed.Write(_buffer, 0, _used);
            plain?.Write(_buffer, 0, _used);
            Bytes += _used;
            _used = 0;
        }
    }
}
