using System.Buffers;
using System.Text.Json;
using static Magneton.Core.Bundles.JsonFields;

namespace Magneton.Core.Bundles;

/// <summary>dataflow.json: the operator graph of the semantic pass, with every id reference checked.</summary>
internal static partial class DataflowReader
{
    private const string File = BundleFiles.Dataflow;

    public static Dataflow Read(string path)
    {
        var dataflow = Stream(path);
        Validate(dataflow);
        return dataflow;
    }

    /// <summary>
    /// Reads the document token by token from the file instead of building one JsonDocument of the whole file (a
    /// dataflow of a million operators is a gigabyte of JSON): each node and value is parsed on its own with the same
    /// field checks, everything else at the top level goes into a small document read as before. Problems are
    /// reported exactly as the whole-document reader did: a syntax error anywhere first (the reader state carries line
    /// and byte positions across refills), then the first field problem in the order format, config, nodes, values,
    /// pair, system, role; of repeated keys the last counts.
    /// </summary>
    private static Dataflow Stream(string path)
    {
        FileStream? file = null;
        try
        {
            file = InputFile.Open(path, File, bufferSize: 1);
            long length = file.Length;
            if (length > BundleLimits.MaxWholeFileBytes)
                throw new BundleException(File, "file",
                    $"is {BundleLimits.Describe(length)}; files read whole are limited to {BundleLimits.Describe(BundleLimits.MaxWholeFileBytes)}");
            using var tokens = new JsonTokenStream(file, new JsonReaderOptions { MaxDepth = 64 }, File, int.MaxValue);
            var parse = new StreamParse(tokens);
            try
            {
                return parse.Run() ?? JsonFile.Parse(path, File, Parse); // not an object: the whole-document reader says so
            }
            catch (JsonException ex)
            {
                throw BundleErrors.From(File, ex);
            }
        }
        catch (Exception ex) when (ex is not BundleException && BundleErrors.IsInputFailure(ex))
        {
            throw BundleErrors.From(File, ex);
        }
        finally
        {
            file?.Dispose();
        }
    }

    /// <summary>The streaming parse: whole units (a top-level member, a node, a value) read from the token stream.</summary>
    private sealed class StreamParse(JsonTokenStream tokens)
    {
        private enum Phase { Start, Top, Nodes, Values, Trailing, Done }

        private Phase _phase = Phase.Start;
        private readonly ArrayBufferWriter<byte> _rest = new(4096);
        private bool _firstRest = true;
        private bool _nodesIsArray, _valuesIsObject;
        private List<DataflowNode>? _nodes;
        private Dictionary<int, DataflowValue>? _values;
        private Exception? _nodesError, _valuesError;
        private int _nodeIndex;
        private readonly Dictionary<string, string> _strings = new(StringComparer.Ordinal);
        private FastParser? _fast;

        /// <summary>The dataflow, or null when the document is not an object (left to the whole-document reader).</summary>
        public Dataflow? Run()
        {
            _fast = new FastParser(_strings);
            while (_phase != Phase.Done && tokens.Next(out var reader))
            {
                if (tokens.IsEmpty) throw new BundleException(File, "file", "is empty");
                bool? ok = Step(ref reader, tokens.Window);
                if (ok is null) return null;
                tokens.Advance(ref reader);
            }
            if (_phase != Phase.Done) throw new InvalidOperationException("the dataflow reader stopped before the end of the document");
            _rest.Write("}"u8);
            using var small = JsonDocument.Parse(_rest.WrittenMemory, new JsonDocumentOptions { MaxDepth = 64 });
            try
            {
                return Assemble(small.RootElement, _nodesIsArray, _nodes, _nodesError, _valuesIsObject, _values, _valuesError);
            }
            catch (Exception ex) when (ex is JsonFieldException || (ex is not BundleException && BundleErrors.IsInputFailure(ex)))
            {
                throw BundleErrors.From(File, ex);
            }
        }

        /// <summary>
        /// Reads whole units (a top-level member, a node, a value) while the buffer holds them; leaves the reader at
        /// the end of the last whole unit. False: not an object at the top (null return of Run).
        /// </summary>
        private bool? Step(ref Utf8JsonReader r, ReadOnlySpan<byte> span)
        {
            while (true)
            {
                var cp = r;
                switch (_phase)
                {
                    case Phase.Start:
                        if (!r.Read()) { r = cp; return true; }
                        if (r.TokenType != JsonTokenType.StartObject) return null;
                        _rest.Write("{"u8);
                        _phase = Phase.Top;
                        break;

                    case Phase.Top:
                    {
                        if (!r.Read()) { r = cp; return true; }
                        if (r.TokenType == JsonTokenType.EndObject) { _phase = Phase.Trailing; break; }
                        bool isNodes = r.ValueTextEquals("nodes"u8), isValues = r.ValueTextEquals("values"u8);
                        int nameStart = (int)r.TokenStartIndex;
                        if (!r.Read()) { r = cp; return true; }
                        if (isNodes && r.TokenType == JsonTokenType.StartArray)
                        {
                            _nodesIsArray = true;
                            _nodes = [];
                            _nodesError = null;
                            _nodeIndex = 0;
                            _phase = Phase.Nodes;
                            break;
                        }
                        if (isValues && r.TokenType == JsonTokenType.StartObject)
                        {
                            _valuesIsObject = true;
                            _values = [];
                            _valuesError = null;
                            _phase = Phase.Values;
                            break;
                        }
                        int valueStart = (int)r.TokenStartIndex;
                        if (r.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && !r.TrySkip()) { r = cp; return true; }
                        if (isNodes) _nodesIsArray = false;
                        if (isValues) _valuesIsObject = false;
                        int end = (int)r.BytesConsumed;
                        if (!_firstRest) _rest.Write(","u8);
                        _firstRest = false;
                        // The name token as written (quotes included), then the value as written.
                        _rest.Write(span[nameStart..valueStart]);
                        _rest.Write(span[valueStart..end]);
                        break;
                    }

                    case Phase.Nodes:
                    {
                        if (!r.Read()) { r = cp; return true; }
                        if (r.TokenType == JsonTokenType.EndArray) { _phase = Phase.Top; break; }
                        if (_nodesError is null && _fast!.TryNode(ref r, out var quick))
                        {
                            _nodes!.Add(quick);
                            _nodeIndex++;
                            break;
                        }
                        if (_nodesError is null && _fast!.RanOut) { r = cp; return true; }
                        if (r.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                        {
                            var probe = r;
                            if (!probe.TrySkip()) { r = cp; return true; }
                            if (_nodesError is not null) { r = probe; break; }
                        }
                        else if (_nodesError is not null) break;
                        using (var doc = JsonDocument.ParseValue(ref r))
                        {
                            try
                            {
                                _nodes!.Add(Interned(Node(doc.RootElement), _strings));
                            }
                            catch (JsonFieldException ex)
                            {
                                _nodesError = ex.Under($"nodes[{_nodeIndex}]");
                            }
                            catch (Exception ex) when (ex is not BundleException && BundleErrors.IsInputFailure(ex))
                            {
                                _nodesError = ex;
                            }
                        }
                        _nodeIndex++;
                        break;
                    }

                    case Phase.Values:
                    {
                        if (!r.Read()) { r = cp; return true; }
                        if (r.TokenType == JsonTokenType.EndObject) { _phase = Phase.Top; break; }
                        int fastId = FastParser.IdKey(ref r);
                        string? name = fastId < 0 ? r.GetString()! : null;
                        if (!r.Read()) { r = cp; return true; }
                        if (_valuesError is null && fastId >= 0 && !_values!.ContainsKey(fastId) && _fast!.TryValue(ref r, fastId, out var quick))
                        {
                            _values.Add(fastId, quick);
                            break;
                        }
                        if (_valuesError is null && fastId >= 0 && _fast!.RanOut) { r = cp; return true; }
                        if (r.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                        {
                            var probe = r;
                            if (!probe.TrySkip()) { r = cp; return true; }
                            if (_valuesError is not null) { r = probe; break; }
                        }
                        else if (_valuesError is not null) break;
                        name ??= fastId.ToString(System.Globalization.CultureInfo.InvariantCulture);
                        using (var doc = JsonDocument.ParseValue(ref r))
                        {
                            try
                            {
                                int id = ParseIdKey(name, "");
                                if (!_values!.TryAdd(id, Interned(Value(id, doc.RootElement), _strings)))
                                    throw new JsonFieldException("", "duplicate value id");
                            }
                            catch (JsonFieldException ex)
                            {
                                _valuesError = ex.Under($"values[\"{name}\"]");
                            }
                            catch (Exception ex) when (ex is not BundleException && BundleErrors.IsInputFailure(ex))
                            {
                                _valuesError = ex;
                            }
                        }
                        break;
                    }

                    case Phase.Trailing:
                        // The rest of the document must still be valid JSON (a trailing token is an error), as before.
                        if (r.Read()) continue;
                        if (tokens.ReachedEnd) _phase = Phase.Done;
                        return true;
                }
            }
        }
    }

    private static Dataflow Assemble(JsonElement root, bool nodesIsArray, List<DataflowNode>? nodes, Exception? nodesError,
        bool valuesIsObject, Dictionary<int, DataflowValue>? values, Exception? valuesError)
    {
        var format = String(root, "format");
        if (format != BundleFiles.Format)
            throw new BundleException(File, "format", $"unknown format \"{format}\" (this reader understands \"{BundleFiles.Format}\")");
        var config = TryGet(root, "config", out _) ? RenderedMap(root, "config") : new Dictionary<string, string>();
        if (!nodesIsArray) Array(root, "nodes"); // missing, or not an array: throws as before
        if (nodesError is not null) throw nodesError;
        if (!valuesIsObject) Object(root, "values");
        if (valuesError is not null) throw valuesError;
        return new Dataflow(format, OptionalString(root, "pair"), String(root, "system"), OptionalString(root, "role"),
            config, nodes!.ToArray(), values!);
    }

    /// <summary>One string object per distinct text: a graph repeats a few hundred op names, modules and frames.</summary>
    private static string Intern(Dictionary<string, string> strings, string s)
    {
        if (strings.TryGetValue(s, out var existing)) return existing;
        strings.Add(s, s);
        return s;
    }

    private static DataflowNode Interned(DataflowNode n, Dictionary<string, string> strings)
    {
        if (n.Stack is string[] frames)
            for (int k = 0; k < frames.Length; k++) frames[k] = Intern(strings, frames[k]);
        return n with { Op = Intern(strings, n.Op), Module = Intern(strings, n.Module), Args = Intern(strings, n.Args) };
    }

    private static DataflowValue Interned(DataflowValue v, Dictionary<string, string> strings) =>
        v with { Dtype = Intern(strings, v.Dtype), Kind = Intern(strings, v.Kind) };

    private static Dataflow Parse(JsonElement root)
    {
        Expect(root, JsonValueKind.Object, "$");
        var format = String(root, "format");
        if (format != BundleFiles.Format)
            throw new BundleException(File, "format", $"unknown format \"{format}\" (this reader understands \"{BundleFiles.Format}\")");

        var config = TryGet(root, "config", out _) ? RenderedMap(root, "config") : new Dictionary<string, string>();

        var nodesJson = Array(root, "nodes");
        var nodes = new DataflowNode[nodesJson.GetArrayLength()];
        int i = 0;
        foreach (var n in nodesJson.EnumerateArray())
        {
            try
            {
                nodes[i] = Node(n);
            }
            catch (JsonFieldException ex)
            {
                throw ex.Under($"nodes[{i}]");
            }
            i++;
        }

        var valuesJson = Object(root, "values");
        var values = new Dictionary<int, DataflowValue>();
        foreach (var p in valuesJson.EnumerateObject())
        {
            try
            {
                int id = ParseIdKey(p.Name, "");
                if (!values.TryAdd(id, Value(id, p.Value))) throw new JsonFieldException("", "duplicate value id");
            }
            catch (JsonFieldException ex)
            {
                throw ex.Under($"values[\"{p.Name}\"]");
            }
        }

        return new Dataflow(format, OptionalString(root, "pair"), String(root, "system"), OptionalString(root, "role"),
            config, nodes, values);
    }

    private static DataflowNode Node(JsonElement n)
    {
        Expect(n, JsonValueKind.Object, "");
        // Non-tensor arguments are a display string; an older probe wrote them as a list, so render rather than refuse.
        var args = TryGet(n, "args", out var a) ? Render(a) : "";
        return new DataflowNode(
            Int32(n, "id"),
            String(n, "op"),
            OptionalString(n, "module") ?? "",
            StringArray(n, "stack"),
            Int32Array(n, "in"),
            Int32Array(n, "out"),
            Boolean(n, "mutable"),
            Boolean(n, "view"),
            TryGet(n, "aliases_updated", out _) ? Int32Array(n, "aliases_updated") : [],
            args,
            OptionalInt32(n, "trace_id"));
    }

    private static DataflowValue Value(int id, JsonElement v)
    {
        Expect(v, JsonValueKind.Object, "");
        return new DataflowValue(
            id,
            Int64Array(v, "shape"),
            String(v, "dtype"),
            Int64Array(v, "stride"),
            Int64(v, "numel"),
            String(v, "kind"),
            OptionalInt32(v, "producer"),
            TryGet(v, "stats", out var s) ? Stats(s) : null,
            TryGet(v, "deciles", out var d) ? DoubleArrayOrNaN(d, "deciles") : null,
            OptionalInt64(v, "nonfinite", 0),
            TryGet(v, "spectra", out var sp) ? Spectra(sp) : null,
            TryGet(v, "istats", out var i) ? IntStats(i) : null);
    }

    private static FloatStats Stats(JsonElement s)
    {
        try
        {
            Expect(s, JsonValueKind.Object, "");
            return new FloatStats(DoubleOrNaN(s, "mean"), DoubleOrNaN(s, "std"), DoubleOrNaN(s, "min"),
                DoubleOrNaN(s, "max"), DoubleOrNaN(s, "absmean"), DoubleOrNaN(s, "l2"));
        }
        catch (JsonFieldException ex)
        {
            throw ex.Under("stats");
        }
    }

    private static IntStats IntStats(JsonElement s)
    {
        try
        {
            Expect(s, JsonValueKind.Object, "");
            return new IntStats(DoubleOrNaN(s, "sum"), DoubleOrNaN(s, "min"), DoubleOrNaN(s, "max"),
                DoubleOrNaN(s, "nonzero"), DoubleOrNaN(s, "sumsq"));
        }
        catch (JsonFieldException ex)
        {
            throw ex.Under("istats");
        }
    }

    private static Dictionary<string, double[]> Spectra(JsonElement s)
    {
        Expect(s, JsonValueKind.Object, "spectra");
        var result = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var p in s.EnumerateObject())
        {
            var key = Segment("spectra", p.Name);
            if (!result.TryAdd(p.Name, DoubleArrayOrNaN(p.Value, key))) throw new JsonFieldException(key, "duplicate key");
        }
        return result;
    }

    /// <summary>Every id a node or value mentions must exist; analysis code indexes without checking.</summary>
    private static void Validate(Dataflow dataflow)
    {
        var nodeIds = new HashSet<int>(dataflow.Nodes.Count);
        var traceIds = new Dictionary<int, int>(dataflow.Nodes.Count);
        for (int i = 0; i < dataflow.Nodes.Count; i++)
        {
            var node = dataflow.Nodes[i];
            if (!nodeIds.Add(node.Id)) throw new BundleException(File, $"nodes[{i}].id", $"duplicate node id {node.Id}");
            if (node.TraceId is { } t && !traceIds.TryAdd(t, node.Id))
                throw new BundleException(File, $"nodes[{i}].trace_id", $"trace_id {t} is also used by node {traceIds[t]}");
            CheckValues(dataflow, node.In, i, "in");
            CheckValues(dataflow, node.Out, i, "out");
            CheckValues(dataflow, node.AliasesUpdated, i, "aliases_updated");
        }

        foreach (var (id, value) in dataflow.Values)
        {
            if (value.Producer is { } p && !nodeIds.Contains(p))
                throw new BundleException(File, $"values[\"{id}\"].producer", $"names node {p}, which is not in nodes");
            if (value.Stride.Length != value.Shape.Length)
                throw new BundleException(File, $"values[\"{id}\"].stride",
                    $"has {value.Stride.Length} entries for a shape of rank {value.Shape.Length}");
        }
    }

    private static void CheckValues(Dataflow dataflow, int[] ids, int nodeIndex, string field)
    {
        for (int k = 0; k < ids.Length; k++)
            if (!dataflow.Values.ContainsKey(ids[k]))
                throw new BundleException(File, $"nodes[{nodeIndex}].{field}[{k}]",
                    $"value {ids[k]} of node {dataflow.Nodes[nodeIndex].Id} is not in values");
    }
}
