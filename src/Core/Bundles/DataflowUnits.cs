using System.Numerics;
using System.Text.Json;
using static Magneton.Core.Bundles.JsonTokenFields;

namespace Magneton.Core.Bundles;

internal static partial class DataflowReader
{
    /// <summary>
    /// One node or one value read in one pass over its tokens and decided as the whole-document reader decided it:
    /// names compared with escapes resolved, fields in any order, unknown fields ignored, of a repeated field the last
    /// one counts, and the problem reported is the first in that reader's field order (not the document's).
    /// </summary>
    private sealed partial class Units
    {
        // Field numbers are the order in which the whole-document reader checked them.
        private const int NArgs = 0, NId = 1, NOp = 2, NModule = 3, NStack = 4, NIn = 5, NOut = 6, NMutable = 7, NView = 8,
            NAliases = 9, NTraceId = 10;
        private static readonly string[] NodeNames =
            ["args", "id", "op", "module", "stack", "in", "out", "mutable", "view", "aliases_updated", "trace_id"];
        private const int NodeRequired = 1 << NId | 1 << NOp | 1 << NStack | 1 << NIn | 1 << NOut | 1 << NMutable | 1 << NView;

        private const int VShape = 0, VDtype = 1, VStride = 2, VNumel = 3, VKind = 4, VProducer = 5, VStats = 6, VDeciles = 7,
            VNonfinite = 8, VSpectra = 9, VIStats = 10;
        private static readonly string[] ValueNames =
            ["shape", "dtype", "stride", "numel", "kind", "producer", "stats", "deciles", "nonfinite", "spectra", "istats"];
        private const int ValueRequired = 1 << VShape | 1 << VDtype | 1 << VStride | 1 << VNumel | 1 << VKind;

        private static readonly string[] StatsNames = ["mean", "std", "min", "max", "absmean", "l2"];
        private static readonly string[] IntStatsNames = ["sum", "min", "max", "nonzero", "sumsq"];
        private static readonly byte[][] StatsUtf8 = [.. StatsNames.Select(System.Text.Encoding.UTF8.GetBytes)];
        private static readonly byte[][] IntStatsUtf8 = [.. IntStatsNames.Select(System.Text.Encoding.UTF8.GetBytes)];

        private readonly FieldProblems _unitProblems = new(11), _statsProblems = new(6);
        private readonly double[] _stats = new double[6];

        private struct NodeFields : IFields
        {
            public int Id;
            public int? TraceId;
            public string? Op, Module, Args;
            public string[]? Stack;
            public int[]? In, Out, Aliases;
            public bool Mutable, View;

            public static int Field(ReadOnlySpan<byte> name) => NodeField(name);

            public bool Read(Units units, ref Utf8JsonReader r, int field) => units.ReadNodeField(ref r, field, ref this);
        }

        private struct ValueFields : IFields
        {
            public long[]? Shape, Stride;
            public string? Dtype, Kind;
            public long Numel, Nonfinite;
            public int? Producer;
            public FloatStats? Stats;
            public IntStats? IStats;
            public double[]? Deciles;
            public Dictionary<string, double[]>? Spectra;

            public static int Field(ReadOnlySpan<byte> name) => ValueField(name);

            public bool Read(Units units, ref Utf8JsonReader r, int field) => units.ReadValueField(ref r, field, ref this);
        }

        /// <summary>False: the window ends inside the node. Otherwise the node, or why it is refused (path relative to it).</summary>
        public bool Node(ref Utf8JsonReader r, out DataflowNode? node, out JsonFieldException? problem)
        {
            node = null;
            var n = new NodeFields();
            if (!Object(ref r, ref n, out problem)) return false;
            problem ??= _unitProblems.First(NodeRequired, NodeNames);
            if (problem is null)
                node = new DataflowNode(n.Id, n.Op!, n.Module ?? "", n.Stack!, n.In!, n.Out!, n.Mutable, n.View, n.Aliases ?? [],
                    n.Args ?? "", n.TraceId);
            return true;
        }

        /// <summary>The fields of one kind of unit: which field a name is, and how to read it.</summary>
        private interface IFields
        {
            static abstract int Field(ReadOnlySpan<byte> name);

            bool Read(Units units, ref Utf8JsonReader r, int field);
        }

        /// <summary>
        /// A unit's fields read into <paramref name="fields"/> and their refusals into <see cref="_unitProblems"/>;
        /// <paramref name="problem"/> is set when the unit is not an object at all. False: the window ends inside.
        /// </summary>
        private bool Object<T>(ref Utf8JsonReader r, ref T fields, out JsonFieldException? problem) where T : struct, IFields
        {
            problem = null;
            _unitProblems.Clear();
            if (r.TokenType != JsonTokenType.StartObject)
            {
                problem = new JsonFieldException("", NotA(JsonTokenType.StartObject, ref r)!);
                return Skip(ref r);
            }
            while (true)
            {
                if (!r.Read()) return false;
                if (r.TokenType == JsonTokenType.EndObject) return true;
                int f = T.Field(_text.Of(ref r));
                if (!r.Read()) return false;
                Problem = null;
                if (!fields.Read(this, ref r, f)) return false;
                if (f >= 0) _unitProblems.Record(f, Problem);
            }
        }

        private bool ReadNodeField(ref Utf8JsonReader r, int f, ref NodeFields n) => f switch
        {
            NArgs => Args(ref r, out n.Args),
            NId => Int32(ref r, "id", out n.Id),
            NOp => String(ref r, "op", out n.Op),
            NModule => OptionalString(ref r, "module", out n.Module),
            NStack => Stack(ref r, out n.Stack),
            NIn => Int32s(ref r, "in", out n.In),
            NOut => Int32s(ref r, "out", out n.Out),
            NMutable => Boolean(ref r, "mutable", out n.Mutable),
            NView => Boolean(ref r, "view", out n.View),
            NAliases => r.TokenType == JsonTokenType.Null ? Absent(out n.Aliases) : Int32s(ref r, "aliases_updated", out n.Aliases),
            NTraceId => OptionalInt32(ref r, "trace_id", out n.TraceId),
            _ => Skip(ref r),
        };

        private static bool Absent<T>(out T? value) where T : class
        {
            value = null;
            return true;
        }

        private static int NodeField(ReadOnlySpan<byte> n) => n.Length switch
        {
            2 when n.SequenceEqual("id"u8) => NId,
            2 when n.SequenceEqual("op"u8) => NOp,
            2 when n.SequenceEqual("in"u8) => NIn,
            3 when n.SequenceEqual("out"u8) => NOut,
            4 when n.SequenceEqual("args"u8) => NArgs,
            4 when n.SequenceEqual("view"u8) => NView,
            5 when n.SequenceEqual("stack"u8) => NStack,
            6 when n.SequenceEqual("module"u8) => NModule,
            7 when n.SequenceEqual("mutable"u8) => NMutable,
            8 when n.SequenceEqual("trace_id"u8) => NTraceId,
            15 when n.SequenceEqual("aliases_updated"u8) => NAliases,
            _ => -1,
        };

        /// <summary>False: the window ends inside the value. Otherwise the value, or why it is refused (path relative to it).</summary>
        public bool Value(ref Utf8JsonReader r, int id, out DataflowValue? value, out JsonFieldException? problem)
        {
            value = null;
            var v = new ValueFields();
            if (!Object(ref r, ref v, out problem)) return false;
            problem ??= _unitProblems.First(ValueRequired, ValueNames);
            if (problem is null)
                value = new DataflowValue(id, v.Shape!, v.Dtype!, v.Stride!, v.Numel, v.Kind!, v.Producer, v.Stats, v.Deciles,
                    v.Nonfinite, v.Spectra, v.IStats);
            return true;
        }

        private bool ReadValueField(ref Utf8JsonReader r, int f, ref ValueFields v)
        {
            if (r.TokenType == JsonTokenType.Null && f is VProducer or VStats or VDeciles or VNonfinite or VSpectra or VIStats)
            {
                // Optional fields may be written as null: absent.
                v = f switch
                {
                    VProducer => v with { Producer = null },
                    VStats => v with { Stats = null },
                    VDeciles => v with { Deciles = null },
                    VNonfinite => v with { Nonfinite = 0 },
                    VSpectra => v with { Spectra = null },
                    _ => v with { IStats = null },
                };
                return true;
            }
            return f switch
            {
                VShape => Longs(ref r, "shape", out v.Shape),
                VDtype => String(ref r, "dtype", out v.Dtype),
                VStride => Longs(ref r, "stride", out v.Stride),
                VNumel => Int64(ref r, "numel", out v.Numel),
                VKind => String(ref r, "kind", out v.Kind),
                VProducer => OptionalInt32(ref r, "producer", out v.Producer),
                VStats => FloatStats(ref r, out v.Stats),
                VDeciles => Doubles(ref r, "deciles", out v.Deciles),
                VNonfinite => Int64(ref r, "nonfinite", out v.Nonfinite),
                VSpectra => Spectra(ref r, out v.Spectra),
                VIStats => IntStats(ref r, out v.IStats),
                _ => Skip(ref r),
            };
        }

        private static int ValueField(ReadOnlySpan<byte> n) => n.Length switch
        {
            4 when n.SequenceEqual("kind"u8) => VKind,
            5 when n.SequenceEqual("shape"u8) => VShape,
            5 when n.SequenceEqual("dtype"u8) => VDtype,
            5 when n.SequenceEqual("numel"u8) => VNumel,
            5 when n.SequenceEqual("stats"u8) => VStats,
            6 when n.SequenceEqual("stride"u8) => VStride,
            6 when n.SequenceEqual("istats"u8) => VIStats,
            7 when n.SequenceEqual("deciles"u8) => VDeciles,
            7 when n.SequenceEqual("spectra"u8) => VSpectra,
            8 when n.SequenceEqual("producer"u8) => VProducer,
            9 when n.SequenceEqual("nonfinite"u8) => VNonfinite,
            _ => -1,
        };

        private bool FloatStats(ref Utf8JsonReader r, out FloatStats? stats)
        {
            stats = null;
            if (!NamedDoubles(ref r, "stats", StatsNames, StatsUtf8)) return false;
            var s = _stats;
            if (Problem is null) stats = new FloatStats(s[0], s[1], s[2], s[3], s[4], s[5]);
            return true;
        }

        private bool IntStats(ref Utf8JsonReader r, out IntStats? stats)
        {
            stats = null;
            if (!NamedDoubles(ref r, "istats", IntStatsNames, IntStatsUtf8)) return false;
            var s = _stats;
            if (Problem is null) stats = new IntStats(s[0], s[1], s[2], s[3], s[4]);
            return true;
        }

        /// <summary>An object of the named members into <see cref="_stats"/>, each a number or null (NaN) and all present.</summary>
        private bool NamedDoubles(ref Utf8JsonReader r, string name, string[] names, byte[][] utf8Names)
        {
            if (r.TokenType != JsonTokenType.StartObject) return Refuse(name, NotA(JsonTokenType.StartObject, ref r)!, ref r);
            _statsProblems.Clear();
            while (true)
            {
                if (!r.Read()) return false;
                if (r.TokenType == JsonTokenType.EndObject) break;
                var member = _text.Of(ref r);
                int f = -1;
                for (int k = 0; k < utf8Names.Length && f < 0; k++) if (member.SequenceEqual(utf8Names[k])) f = k;
                if (!r.Read()) return false;
                var problem = f < 0 ? null : DoubleOrNaN(ref r, out _stats[f]);
                if (!Skip(ref r)) return false;
                if (f >= 0) _statsProblems.Record(f, problem is null ? null : new JsonFieldException(names[f], problem));
            }
            Problem = _statsProblems.First((1 << names.Length) - 1, names)?.Under(name);
            return true;
        }

        private bool Spectra(ref Utf8JsonReader r, out Dictionary<string, double[]>? spectra)
        {
            spectra = null;
            if (r.TokenType != JsonTokenType.StartObject) return Refuse("spectra", NotA(JsonTokenType.StartObject, ref r)!, ref r);
            var result = new Dictionary<string, double[]>(StringComparer.Ordinal);
            while (true)
            {
                if (!r.Read()) return false;
                if (r.TokenType == JsonTokenType.EndObject) break;
                var key = Str(ref r);
                if (!r.Read()) return false;
                if (Problem is not null)
                {
                    if (!Skip(ref r)) return false;
                    continue;
                }
                if (!Doubles(ref r, "", out var values)) return false;
                if (Problem is not null) Problem = Problem.Under(JsonFields.Segment("spectra", key));
                else if (!result.TryAdd(key, values!)) Problem = new JsonFieldException(JsonFields.Segment("spectra", key), "duplicate key");
            }
            if (Problem is null) spectra = result;
            return true;
        }

        /// <summary>Per field of one object, the refusal of its last occurrence; then the first by field number.</summary>
        private sealed class FieldProblems(int count)
        {
            private readonly JsonFieldException?[] _problems = new JsonFieldException?[count];
            private int _seen, _refused;

            public void Clear() => _seen = _refused = 0;

            public void Record(int field, JsonFieldException? problem)
            {
                _seen |= 1 << field;
                if (problem is null) _refused &= ~(1 << field);
                else
                {
                    _refused |= 1 << field;
                    _problems[field] = problem;
                }
            }

            public JsonFieldException? First(int required, string[] names)
            {
                int bad = (required & ~_seen) | _refused;
                if (bad == 0) return null;
                int f = BitOperations.TrailingZeroCount(bad);
                return (_refused & (1 << f)) != 0 ? _problems[f] : new JsonFieldException(names[f], "is missing");
            }
        }
    }
}
