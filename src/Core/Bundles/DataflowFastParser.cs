using System.Text.Json;

namespace Magneton.Core.Bundles;

internal static partial class DataflowReader
{
    /// <summary>
    /// Reads a node or value straight from the token stream when it is written the ordinary way: every field of the
    /// right type, no repeated keys, no escapes in names. Anything else (including anything wrong) is left to the
    /// JsonElement path, which then produces the result or the error message exactly as before; for what this path
    /// accepts, it builds the same records that path would. Strings are interned from their UTF-8 bytes, so a frame or
    /// an op name repeated a million times is one string.
    /// </summary>
    private sealed class FastParser(Dictionary<string, string> strings)
    {
        private readonly Utf8Interner _names = new();
        private readonly List<string?> _byId = [];
        private readonly List<int> _ints = [];
        private readonly List<long> _longs = [];
        private readonly List<double> _doubles = [];
        private readonly List<string> _frames = [];
        // Identical call stacks and shapes are shared, not stored once per operator (the records are read-only).
        private readonly Dictionary<int, string[]> _stacks = [];
        private readonly Dictionary<int, long[]> _shapes = [];

        /// <summary>The last Try* call ran out of data (the buffer ends inside the node or value): read more and retry.</summary>
        public bool RanOut { get; private set; }

        private bool Incomplete()
        {
            RanOut = true;
            return false;
        }

        /// <summary>The value id of a property name made only of digits (what ParseIdKey accepts), else -1.</summary>
        public static int IdKey(ref Utf8JsonReader r)
        {
            if (r.ValueIsEscaped || r.HasValueSequence) return -1;
            var s = r.ValueSpan;
            // Leading zeros parse too, but then the name is not the id's text (error messages quote the name).
            if (s.Length == 0 || s.Length > 10 || (s[0] == (byte)'0' && s.Length > 1)) return -1;
            long id = 0;
            foreach (byte b in s)
            {
                uint d = (uint)(b - '0');
                if (d > 9) return -1;
                id = id * 10 + d;
            }
            return id <= int.MaxValue ? (int)id : -1;
        }

        public bool TryNode(ref Utf8JsonReader reader, out DataflowNode node)
        {
            node = null!;
            RanOut = false;
            if (reader.TokenType != JsonTokenType.StartObject) return false;
            var r = reader;
            int seen = 0;
            int id = 0;
            int? traceId = null;
            string? op = null, module = null, args = null;
            string[]? stack = null;
            int[]? ins = null, outs = null, aliases = null;
            bool mutable = false, view = false;
            while (true)
            {
                if (!r.Read()) return Incomplete();
                if (r.TokenType == JsonTokenType.EndObject) break;
                if (r.TokenType != JsonTokenType.PropertyName || r.ValueIsEscaped || r.HasValueSequence) return false;
                int field = NodeField(r.ValueSpan);
                if (field != 0)
                {
                    if ((seen & field) != 0) return false; // a repeated key: the last one counts there
                    seen |= field;
                }
                if (!r.Read()) return Incomplete();
                switch (field)
                {
                    case F.Id:
                        if (r.TokenType != JsonTokenType.Number || !r.TryGetInt32(out id)) return false;
                        break;
                    case F.Op:
                        if ((op = Str(ref r)) is null) return false;
                        break;
                    case F.Module:
                        if (r.TokenType == JsonTokenType.Null) module = null;
                        else if ((module = Str(ref r)) is null) return false;
                        break;
                    case F.Args:
                        if (r.TokenType == JsonTokenType.Null) args = null;
                        else if ((args = Str(ref r)) is null) return false;
                        break;
                    case F.Stack:
                        if ((stack = Strings(ref r)) is null) return false;
                        break;
                    case F.In:
                        if ((ins = Ints(ref r)) is null) return false;
                        break;
                    case F.Out:
                        if ((outs = Ints(ref r)) is null) return false;
                        break;
                    case F.Aliases:
                        if (r.TokenType == JsonTokenType.Null) aliases = null;
                        else if ((aliases = Ints(ref r)) is null) return false;
                        break;
                    case F.Mutable:
                        if (r.TokenType is not (JsonTokenType.True or JsonTokenType.False)) return false;
                        mutable = r.TokenType == JsonTokenType.True;
                        break;
                    case F.View:
                        if (r.TokenType is not (JsonTokenType.True or JsonTokenType.False)) return false;
                        view = r.TokenType == JsonTokenType.True;
                        break;
                    case F.TraceId:
                        if (r.TokenType == JsonTokenType.Null) traceId = null;
                        else if (r.TokenType != JsonTokenType.Number || !r.TryGetInt32(out int t)) return false;
                        else traceId = t;
                        break;
                    default:
                        if (r.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && !r.TrySkip()) return Incomplete();
                        break;
                }
            }
            const int required = F.Id | F.Op | F.Stack | F.In | F.Out | F.Mutable | F.View;
            if ((seen & required) != required) return false;
            node = new DataflowNode(id, op!, module ?? "", stack!, ins!, outs!, mutable, view, aliases ?? [], args ?? "", traceId);
            reader = r;
            return true;
        }

        public bool TryValue(ref Utf8JsonReader reader, int id, out DataflowValue value)
        {
            value = null!;
            RanOut = false;
            if (reader.TokenType != JsonTokenType.StartObject) return false;
            var r = reader;
            int seen = 0;
            long[]? shape = null, stride = null;
            string? dtype = null, kind = null;
            long numel = 0, nonfinite = 0;
            int? producer = null;
            FloatStats? stats = null;
            IntStats? istats = null;
            double[]? deciles = null;
            Dictionary<string, double[]>? spectra = null;
            while (true)
            {
                if (!r.Read()) return Incomplete();
                if (r.TokenType == JsonTokenType.EndObject) break;
                if (r.TokenType != JsonTokenType.PropertyName || r.ValueIsEscaped || r.HasValueSequence) return false;
                int field = ValueField(r.ValueSpan);
                if (field != 0)
                {
                    if ((seen & field) != 0) return false;
                    seen |= field;
                }
                if (!r.Read()) return Incomplete();
                switch (field)
                {
                    case V.Shape:
                        if ((shape = Longs(ref r)) is null) return false;
                        break;
                    case V.Stride:
                        if ((stride = Longs(ref r)) is null) return false;
                        break;
                    case V.Dtype:
                        if ((dtype = Str(ref r)) is null) return false;
                        break;
                    case V.Kind:
                        if ((kind = Str(ref r)) is null) return false;
                        break;
                    case V.Numel:
                        if (r.TokenType != JsonTokenType.Number || !r.TryGetInt64(out numel)) return false;
                        break;
                    case V.Nonfinite:
                        if (r.TokenType == JsonTokenType.Null) nonfinite = 0;
                        else if (r.TokenType != JsonTokenType.Number || !r.TryGetInt64(out nonfinite)) return false;
                        break;
                    case V.Producer:
                        if (r.TokenType == JsonTokenType.Null) producer = null;
                        else if (r.TokenType != JsonTokenType.Number || !r.TryGetInt32(out int p)) return false;
                        else producer = p;
                        break;
                    case V.Stats:
                        if (r.TokenType == JsonTokenType.Null) stats = null;
                        else if (!TryStats(ref r, out stats)) return false;
                        break;
                    case V.IStats:
                        if (r.TokenType == JsonTokenType.Null) istats = null;
                        else if (!TryIntStats(ref r, out istats)) return false;
                        break;
                    case V.Deciles:
                        if (r.TokenType == JsonTokenType.Null) deciles = null;
                        else if ((deciles = Doubles(ref r)) is null) return false;
                        break;
                    case V.Spectra:
                        if (r.TokenType == JsonTokenType.Null) spectra = null;
                        else if ((spectra = Spectra(ref r)) is null) return false;
                        break;
                    default:
                        if (r.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && !r.TrySkip()) return Incomplete();
                        break;
                }
            }
            const int required = V.Shape | V.Dtype | V.Stride | V.Numel | V.Kind;
            if ((seen & required) != required) return false;
            value = new DataflowValue(id, shape!, dtype!, stride!, numel, kind!, producer, stats, deciles, nonfinite, spectra, istats);
            reader = r;
            return true;
        }

        private static class F
        {
            public const int Id = 1, Op = 2, Module = 4, Stack = 8, In = 16, Out = 32, Mutable = 64, View = 128, Aliases = 256,
                Args = 512, TraceId = 1024;
        }

        private static class V
        {
            public const int Shape = 1, Dtype = 2, Stride = 4, Numel = 8, Kind = 16, Producer = 32, Stats = 64, Deciles = 128,
                Nonfinite = 256, Spectra = 512, IStats = 1024;
        }

        private static int NodeField(ReadOnlySpan<byte> n) => n.Length switch
        {
            2 when n.SequenceEqual("id"u8) => F.Id,
            2 when n.SequenceEqual("op"u8) => F.Op,
            2 when n.SequenceEqual("in"u8) => F.In,
            3 when n.SequenceEqual("out"u8) => F.Out,
            4 when n.SequenceEqual("args"u8) => F.Args,
            4 when n.SequenceEqual("view"u8) => F.View,
            5 when n.SequenceEqual("stack"u8) => F.Stack,
            6 when n.SequenceEqual("module"u8) => F.Module,
            7 when n.SequenceEqual("mutable"u8) => F.Mutable,
            8 when n.SequenceEqual("trace_id"u8) => F.TraceId,
            15 when n.SequenceEqual("aliases_updated"u8) => F.Aliases,
            _ => 0,
        };

        private static int ValueField(ReadOnlySpan<byte> n) => n.Length switch
        {
            4 when n.SequenceEqual("kind"u8) => V.Kind,
            5 when n.SequenceEqual("shape"u8) => V.Shape,
            5 when n.SequenceEqual("dtype"u8) => V.Dtype,
            5 when n.SequenceEqual("numel"u8) => V.Numel,
            5 when n.SequenceEqual("stats"u8) => V.Stats,
            6 when n.SequenceEqual("stride"u8) => V.Stride,
            6 when n.SequenceEqual("istats"u8) => V.IStats,
            7 when n.SequenceEqual("deciles"u8) => V.Deciles,
            7 when n.SequenceEqual("spectra"u8) => V.Spectra,
            8 when n.SequenceEqual("producer"u8) => V.Producer,
            9 when n.SequenceEqual("nonfinite"u8) => V.Nonfinite,
            _ => 0,
        };

        /// <summary>A string token as an interned string; null when the token is not a string.</summary>
        private string? Str(ref Utf8JsonReader r)
        {
            if (r.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName)) return null;
            if (r.ValueIsEscaped || r.HasValueSequence)
            {
                var s = r.GetString()!;
                if (strings.TryGetValue(s, out var existing)) return existing;
                strings.Add(s, s);
                return s;
            }
            int id = _names.Intern(r.ValueSpan);
            if (id < _byId.Count && _byId[id] is { } known) return known;
            var text = _names.GetString(id);
            if (strings.TryGetValue(text, out var same)) text = same;
            else strings.Add(text, text);
            while (_byId.Count <= id) _byId.Add(null);
            _byId[id] = text;
            return text;
        }

        private string[]? Strings(ref Utf8JsonReader r)
        {
            if (r.TokenType != JsonTokenType.StartArray) return null;
            _frames.Clear();
            while (true)
            {
                if (!r.Read()) { Incomplete(); return null; }
                if (r.TokenType == JsonTokenType.EndArray) break;
                var s = Str(ref r);
                if (s is null) return null;
                _frames.Add(s);
            }
            var h = new HashCode();
            foreach (var f in _frames) h.Add(System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(f));
            h.Add(_frames.Count);
            int hash = h.ToHashCode();
            if (_stacks.TryGetValue(hash, out var known) && SameFrames(known, _frames)) return known;
            var array = _frames.ToArray();
            _stacks[hash] = array;
            return array;
        }

        private static bool SameFrames(string[] known, List<string> frames)
        {
            if (known.Length != frames.Count) return false;
            for (int i = 0; i < known.Length; i++) if (!ReferenceEquals(known[i], frames[i])) return false;
            return true;
        }

        private int[]? Ints(ref Utf8JsonReader r)
        {
            if (r.TokenType != JsonTokenType.StartArray) return null;
            _ints.Clear();
            while (true)
            {
                if (!r.Read()) { Incomplete(); return null; }
                if (r.TokenType == JsonTokenType.EndArray) break;
                if (r.TokenType != JsonTokenType.Number || !r.TryGetInt32(out int x)) return null;
                _ints.Add(x);
            }
            return _ints.ToArray();
        }

        private long[]? Longs(ref Utf8JsonReader r)
        {
            if (r.TokenType != JsonTokenType.StartArray) return null;
            _longs.Clear();
            while (true)
            {
                if (!r.Read()) { Incomplete(); return null; }
                if (r.TokenType == JsonTokenType.EndArray) break;
                if (r.TokenType != JsonTokenType.Number || !r.TryGetInt64(out long x)) return null;
                _longs.Add(x);
            }
            var h = new HashCode();
            foreach (var x in _longs) h.Add(x);
            h.Add(_longs.Count);
            int hash = h.ToHashCode();
            if (_shapes.TryGetValue(hash, out var known) && known.AsSpan().SequenceEqual(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_longs)))
                return known;
            var array = _longs.ToArray();
            if (array.Length <= 8) _shapes[hash] = array;
            return array;
        }

        /// <summary>Numbers (finite) or null (NaN), as DoubleArrayOrNaN reads them.</summary>
        private double[]? Doubles(ref Utf8JsonReader r)
        {
            if (r.TokenType != JsonTokenType.StartArray) return null;
            _doubles.Clear();
            while (true)
            {
                if (!r.Read()) { Incomplete(); return null; }
                if (r.TokenType == JsonTokenType.EndArray) break;
                if (!TryDouble(ref r, out double x)) return null;
                _doubles.Add(x);
            }
            return _doubles.ToArray();
        }

        private static bool TryDouble(ref Utf8JsonReader r, out double x)
        {
            x = double.NaN;
            if (r.TokenType == JsonTokenType.Null) return true;
            return r.TokenType == JsonTokenType.Number && r.TryGetDouble(out x) && double.IsFinite(x);
        }

        private Dictionary<string, double[]>? Spectra(ref Utf8JsonReader r)
        {
            if (r.TokenType != JsonTokenType.StartObject) return null;
            var result = new Dictionary<string, double[]>(StringComparer.Ordinal);
            while (true)
            {
                if (!r.Read()) { Incomplete(); return null; }
                if (r.TokenType == JsonTokenType.EndObject) break;
                if (r.ValueIsEscaped || r.HasValueSequence) return null;
                if (r.TokenType != JsonTokenType.PropertyName) return null;
                var key = Str(ref r);
                if (key is null || result.ContainsKey(key)) return null;
                if (!r.Read()) { Incomplete(); return null; }
                var values = Doubles(ref r);
                if (values is null) return null;
                result.Add(key, values);
            }
            return result;
        }

        private static readonly byte[][] StatsNames = ["mean"u8.ToArray(), "std"u8.ToArray(), "min"u8.ToArray(), "max"u8.ToArray(), "absmean"u8.ToArray(), "l2"u8.ToArray()];
        private static readonly byte[][] IntStatsNames = ["sum"u8.ToArray(), "min"u8.ToArray(), "max"u8.ToArray(), "nonzero"u8.ToArray(), "sumsq"u8.ToArray()];

        private bool TryStats(ref Utf8JsonReader r, out FloatStats? stats)
        {
            stats = null;
            Span<double> v = stackalloc double[6];
            if (!TryNamedDoubles(ref r, StatsNames, v)) return false;
            stats = new FloatStats(v[0], v[1], v[2], v[3], v[4], v[5]);
            return true;
        }

        private bool TryIntStats(ref Utf8JsonReader r, out IntStats? stats)
        {
            stats = null;
            Span<double> v = stackalloc double[5];
            if (!TryNamedDoubles(ref r, IntStatsNames, v)) return false;
            stats = new IntStats(v[0], v[1], v[2], v[3], v[4]);
            return true;
        }

        /// <summary>
        /// An object of the given members, each a finite number or null (NaN), each once and all present; other
        /// members are skipped. Anything else is left to the JsonElement path.
        /// </summary>
        private bool TryNamedDoubles(ref Utf8JsonReader r, byte[][] names, scoped Span<double> values)
        {
            if (r.TokenType != JsonTokenType.StartObject) return false;
            int seen = 0;
            while (true)
            {
                if (!r.Read()) return Incomplete();
                if (r.TokenType == JsonTokenType.EndObject) break;
                if (r.ValueIsEscaped || r.HasValueSequence) return false;
                int f = -1;
                for (int k = 0; k < names.Length && f < 0; k++) if (r.ValueSpan.SequenceEqual(names[k])) f = k;
                if (f >= 0)
                {
                    if ((seen & (1 << f)) != 0) return false;
                    seen |= 1 << f;
                }
                if (!r.Read()) return Incomplete();
                if (f < 0)
                {
                    if (r.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && !r.TrySkip()) return Incomplete();
                    continue;
                }
                if (!TryDouble(ref r, out values[f])) return false;
            }
            return seen == (1 << names.Length) - 1;
        }
    }
}
