using System.Text.Json;
using static Magneton.Core.Bundles.JsonTokenFields;

namespace Magneton.Core.Bundles;

internal static partial class DataflowReader
{
    /// <summary>
    /// The document read from the token stream a whole unit at a time (a top-level member, a node, a value); a unit
    /// the window ends inside is read again from its start with more data. Refusals are held until the end of the
    /// document, so that a syntax error anywhere is reported first, then the first refusal in the order format,
    /// config, nodes, values, pair, system, role (see <see cref="Assemble"/>); of repeated keys the last counts.
    /// </summary>
    private sealed class Document(JsonTokenStream tokens)
    {
        private enum Phase { Start, Members, Nodes, Values, Trailing, Done }

        private Phase _phase = Phase.Start;
        private readonly Units _units = new();
        private readonly JsonText _text = new();
        private readonly TopLevel _top = new();

        /// <summary>The members of the top-level object as read so far: a value or a refusal each.</summary>
        public sealed class TopLevel
        {
            public string? RootKind; // the document is not an object: what it is
            public bool FormatSeen, SystemSeen, NodesSeen, ValuesSeen;
            public string? Format, Pair, System, Role;
            public Exception? FormatProblem, PairProblem, SystemProblem, RoleProblem, ConfigProblem;
            public Dictionary<string, string>? Config;
            public JsonFieldException? NodesProblem, ValuesProblem; // not an array / not an object
            public Exception? NodesError, ValuesError; // the first refused node or value
            public List<DataflowNode> Nodes = [];
            public Dictionary<int, DataflowValue> Values = [];
            public int NodeIndex;
        }

        public Dataflow Run()
        {
            while (_phase != Phase.Done && tokens.Next(out var reader))
            {
                if (tokens.IsEmpty) throw new BundleException(File, "file", "is empty");
                Steps(ref reader);
                tokens.Advance(ref reader);
            }
            if (_phase != Phase.Done) throw new InvalidOperationException("the dataflow reader stopped before the end of the document");
            try
            {
                return Assemble(_top);
            }
            catch (Exception ex) when (ex is JsonFieldException || (ex is not BundleException && BundleErrors.IsInputFailure(ex)))
            {
                throw BundleErrors.From(File, ex);
            }
        }

        /// <summary>Reads whole units while the window holds them; leaves the reader after the last whole one.</summary>
        private void Steps(ref Utf8JsonReader r)
        {
            while (true)
            {
                if (_phase == Phase.Trailing)
                {
                    // The rest of the document must still be valid JSON (a trailing token is an error).
                    while (r.Read()) { }
                    if (tokens.ReachedEnd) _phase = Phase.Done;
                    return;
                }
                var unitStart = r;
                bool whole = _phase switch
                {
                    Phase.Start => Start(ref r),
                    Phase.Members => Member(ref r),
                    Phase.Nodes => Node(ref r),
                    _ => Value(ref r),
                };
                if (!whole)
                {
                    r = unitStart;
                    return;
                }
            }
        }

        private bool Start(ref Utf8JsonReader r)
        {
            if (!r.Read()) return false;
            if (r.TokenType != JsonTokenType.StartObject) _top.RootKind = Kind(r.TokenType);
            _phase = r.TokenType == JsonTokenType.StartObject ? Phase.Members : Phase.Trailing;
            return true;
        }

        private bool Member(ref Utf8JsonReader r)
        {
            if (!r.Read()) return false;
            if (r.TokenType == JsonTokenType.EndObject)
            {
                _phase = Phase.Trailing;
                return true;
            }
            var name = _text.Of(ref r);
            if (!r.Read()) return false;
            var t = _top;
            if (name.SequenceEqual("nodes"u8)) return Nodes(ref r);
            if (name.SequenceEqual("values"u8)) return Values(ref r);
            if (name.SequenceEqual("config"u8)) return Config(ref r);
            if (name.SequenceEqual("format"u8))
            {
                t.FormatSeen = true;
                return String(ref r, "format", optional: false, out t.Format, out t.FormatProblem);
            }
            if (name.SequenceEqual("system"u8))
            {
                t.SystemSeen = true;
                return String(ref r, "system", optional: false, out t.System, out t.SystemProblem);
            }
            if (name.SequenceEqual("pair"u8)) return String(ref r, "pair", optional: true, out t.Pair, out t.PairProblem);
            if (name.SequenceEqual("role"u8)) return String(ref r, "role", optional: true, out t.Role, out t.RoleProblem);
            return Skip(ref r);
        }

        /// <summary>A top-level string; text that cannot be decoded is held as the refusal, reported in its turn.</summary>
        private static bool String(ref Utf8JsonReader r, string name, bool optional, out string? value, out Exception? problem)
        {
            value = null;
            problem = null;
            if (optional && r.TokenType == JsonTokenType.Null) return true;
            if (r.TokenType != JsonTokenType.String)
            {
                problem = new JsonFieldException(name, NotA(JsonTokenType.String, ref r)!);
                return Skip(ref r);
            }
            try
            {
                value = r.GetString();
            }
            catch (InvalidOperationException ex)
            {
                problem = ex;
            }
            return true;
        }

        private bool Nodes(ref Utf8JsonReader r)
        {
            var t = _top;
            t.NodesSeen = true;
            t.Nodes = [];
            t.NodesError = null;
            t.NodeIndex = 0;
            t.NodesProblem = r.TokenType == JsonTokenType.StartArray ? null : new JsonFieldException("nodes", NotA(JsonTokenType.StartArray, ref r)!);
            if (t.NodesProblem is not null) return Skip(ref r);
            _phase = Phase.Nodes;
            return true;
        }

        private bool Values(ref Utf8JsonReader r)
        {
            var t = _top;
            t.ValuesSeen = true;
            t.Values = [];
            t.ValuesError = null;
            t.ValuesProblem = r.TokenType == JsonTokenType.StartObject ? null : new JsonFieldException("values", NotA(JsonTokenType.StartObject, ref r)!);
            if (t.ValuesProblem is not null) return Skip(ref r);
            _phase = Phase.Values;
            return true;
        }

        /// <summary>A string-valued map; values of other types are rendered as JsonFields.Render does. Null: absent.</summary>
        private bool Config(ref Utf8JsonReader r)
        {
            var t = _top;
            t.Config = null;
            t.ConfigProblem = null;
            if (r.TokenType == JsonTokenType.Null) return true;
            if (r.TokenType != JsonTokenType.StartObject)
            {
                t.ConfigProblem = new JsonFieldException("config", NotA(JsonTokenType.StartObject, ref r)!);
                return Skip(ref r);
            }
            var config = new Dictionary<string, string>(StringComparer.Ordinal);
            while (true)
            {
                if (!r.Read()) return false;
                if (r.TokenType == JsonTokenType.EndObject) break;
                var key = r.GetString()!;
                if (!r.Read()) return false;
                if (t.ConfigProblem is not null) { if (!Skip(ref r)) return false; continue; }
                if (!TryRender(ref r, out var text)) return false;
                if (!config.TryAdd(key, text)) t.ConfigProblem = new JsonFieldException($"config.{key}", "duplicate key");
            }
            t.Config = config;
            return true;
        }

        private bool Node(ref Utf8JsonReader r)
        {
            if (!r.Read()) return false;
            if (r.TokenType == JsonTokenType.EndArray)
            {
                _phase = Phase.Members;
                return true;
            }
            var t = _top;
            if (t.NodesError is not null) return Skip(ref r);
            if (!_units.Node(ref r, out var node, out var problem)) return false;
            if (problem is not null) t.NodesError = problem.Under($"nodes[{t.NodeIndex}]");
            else t.Nodes.Add(node!);
            t.NodeIndex++;
            return true;
        }

        private bool Value(ref Utf8JsonReader r)
        {
            if (!r.Read()) return false;
            if (r.TokenType == JsonTokenType.EndObject)
            {
                _phase = Phase.Members;
                return true;
            }
            var t = _top;
            int id = PlainId(r.ValueIsEscaped ? _text.Of(ref r) : r.ValueSpan);
            string? name = id < 0 ? r.GetString()! : null;
            if (!r.Read()) return false;
            if (t.ValuesError is not null) return Skip(ref r);
            if (id < 0)
            {
                try
                {
                    id = JsonFields.ParseIdKey(name!, "");
                }
                catch (JsonFieldException ex)
                {
                    t.ValuesError = ex.Under($"values[\"{name}\"]");
                    return Skip(ref r);
                }
            }
            if (!_units.Value(ref r, id, out var value, out var problem)) return false;
            if (problem is null && !t.Values.TryAdd(id, value!)) problem = new JsonFieldException("", "duplicate value id");
            if (problem is not null) t.ValuesError = problem.Under($"values[\"{name ?? id.ToString(System.Globalization.CultureInfo.InvariantCulture)}\"]");
            return true;
        }

        /// <summary>
        /// The id of a key written as the id's own digits (what ParseIdKey accepts, without leading zeros), else -1:
        /// other keys go through ParseIdKey as text, because the error messages quote them as written.
        /// </summary>
        private static int PlainId(ReadOnlySpan<byte> s)
        {
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
    }
}
