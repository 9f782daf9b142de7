using System.Buffers.Text;
using System.Text;
using System.Text.Json;

namespace Magneton.Core.Scaling;

/// <summary>
/// The events of the source trace as the scaler handles them: parsed once, then split around the numbers a copy
/// changes (ts, dur, ids, the mg# trace id) so that writing a copy is copying literals and formatting numbers.
/// </summary>
internal static partial class TraceScaler
{
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
