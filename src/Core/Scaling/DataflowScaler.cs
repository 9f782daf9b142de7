using System.Text.Json;

namespace Magneton.Core.Scaling;

/// <summary>The dataflow graph of a real bundle, as read for scaling (raw JSON kept for faithful copies).</summary>
internal sealed class DataflowSource : IDisposable
{
    public JsonDocument Document { get; }
    public JsonElement Root => Document.RootElement;
    public JsonElement[] Nodes { get; }
    public int[] NodeIds { get; }
    public string[] Ops { get; }
    public int?[] TraceIds { get; }
    public int[][] In { get; }
    public int[][] Out { get; }
    public int[][] Aliases { get; }
    public Dictionary<int, JsonElement> Values { get; } = [];
    public Dictionary<int, int?> Producer { get; } = [];
    public Dictionary<int, string> Kind { get; } = [];
    public Dictionary<int, int> IndexOfNode { get; } = [];

    public DataflowSource(string path)
    {
        Document = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 64 });
        var nodes = Root.GetProperty("nodes");
        int n = nodes.GetArrayLength();
        Nodes = new JsonElement[n];
        NodeIds = new int[n];
        Ops = new string[n];
        TraceIds = new int?[n];
        In = new int[n][];
        Out = new int[n][];
        Aliases = new int[n][];
        int i = 0;
        foreach (var node in nodes.EnumerateArray())
        {
            Nodes[i] = node;
            NodeIds[i] = node.GetProperty("id").GetInt32();
            Ops[i] = node.GetProperty("op").GetString()!;
            TraceIds[i] = node.TryGetProperty("trace_id", out var t) && t.ValueKind == JsonValueKind.Number ? t.GetInt32() : null;
            In[i] = Ints(node.GetProperty("in"));
            Out[i] = Ints(node.GetProperty("out"));
            Aliases[i] = node.TryGetProperty("aliases_updated", out var a) ? Ints(a) : [];
            IndexOfNode[NodeIds[i]] = i;
            i++;
        }
        foreach (var p in Root.GetProperty("values").EnumerateObject())
        {
            int id = int.Parse(p.Name, System.Globalization.CultureInfo.InvariantCulture);
            Values[id] = p.Value;
            Producer[id] = p.Value.TryGetProperty("producer", out var pr) && pr.ValueKind == JsonValueKind.Number ? pr.GetInt32() : null;
            Kind[id] = p.Value.TryGetProperty("kind", out var k) ? k.GetString() ?? "" : "";
        }
    }

    public int Count => Nodes.Length;

    /// <summary>Index of the operator producing the value, or -1 for parameters, inputs and constants.</summary>
    public int ProducerIndex(int value) =>
        Producer.TryGetValue(value, out var p) && p is int id && IndexOfNode.TryGetValue(id, out var i) ? i : -1;

    static int[] Ints(JsonElement a)
    {
        var r = new int[a.GetArrayLength()];
        int i = 0;
        foreach (var x in a.EnumerateArray()) r[i++] = x.GetInt32();
        return r;
    }

    public void Dispose() => Document.Dispose();
}

/// <summary>The repeated part of a graph: operators [Start, Start + Length), and for decode steps the step before it.</summary>
internal sealed record StepStructure(ScalingMode Mode, int Start, int Length)
{
    public int PriorStart => Start - Length;

    /// <summary>
    /// The trailing decode step: the smallest period L such that the last L operators repeat the L before them with
    /// the same dataflow (internal edges, edges into the previous step, and the same older values).
    /// </summary>
    public static StepStructure Detect(DataflowSource d, ScalingMode mode)
    {
        int n = d.Count;
        if (mode != ScalingMode.Job)
        {
            for (int len = 16; 2 * len <= n; len++)
            {
                if (!SameOps(d, n - 2 * len, n - len, len)) continue;
                if (!SameDataflow(d, n - len, len)) continue;
                return new StepStructure(ScalingMode.DecodeSteps, n - len, len);
            }
            if (mode == ScalingMode.DecodeSteps)
                throw new InvalidOperationException("the graph does not end in repeated identical steps; use the job mode");
        }
        return new StepStructure(ScalingMode.Job, 0, n);
    }

    static bool SameOps(DataflowSource d, int a, int b, int len)
    {
        for (int i = 0; i < len; i++) if (d.Ops[a + i] != d.Ops[b + i]) return false;
        return true;
    }

    static bool SameDataflow(DataflowSource d, int start, int len)
    {
        int prior = start - len;
        for (int i = 0; i < len; i++)
        {
            var t = d.In[start + i];
            var p = d.In[prior + i];
            if (t.Length != p.Length || d.Out[start + i].Length != d.Out[prior + i].Length) return false;
            for (int k = 0; k < t.Length; k++)
            {
                var (kindT, posT) = Source(d, t[k], start, len);
                var (kindP, posP) = Source(d, p[k], prior, len);
                if (kindT != kindP) return false;
                if (kindT == 2 ? t[k] != p[k] : posT != posP) return false;
            }
        }
        return true;
    }

    // 0: produced inside the step (position), 1: produced by the step before (position), 2: older or not produced.
    static (int Kind, int Pos) Source(DataflowSource d, int value, int start, int len)
    {
        int pi = d.ProducerIndex(value);
        if (pi >= start && pi < start + len) return (0, pi - start);
        if (pi >= start - len && pi < start) return (1, pi - (start - len));
        return (2, 0);
    }
}

/// <summary>What the trace scaler needs to know about the copies written into the dataflow.</summary>
internal sealed class DataflowScaleResult
{
    public required int Operators { get; init; }
    public required long Bytes { get; init; }
    /// <summary>Per added copy (index 0 = copy 1): template trace id to the copy's trace id.</summary>
    public required List<Dictionary<int, int>> TraceMaps { get; init; }
    public required HashSet<int> TemplateTraceIds { get; init; }
    /// <summary>Per plant: copy, the replaced operator's template trace id, the chain's trace ids and ops.</summary>
    public required List<PlantTrace> Plants { get; init; }
    public required List<(int Copy, int TemplateIndex, string Module, int ChainEndNode, int SourceNode)> PlantNodes { get; init; }
    /// <summary>Node id of each template operator in each copy (index 0 = copy 1), for locating plants on side B.</summary>
    public required List<int[]> CopyNodeIds { get; init; }
}

internal sealed record PlantTrace(int Copy, int TemplateTraceId, IReadOnlyList<ChainOp> Chain);

/// <summary>One operator of a planted chain: its trace id and what its trace events become.</summary>
internal sealed record ChainOp(int TraceId, string Op, string CpuOp, IReadOnlyList<(string From, string To)> KernelRenames, double Weight);

/// <summary>
/// Writes a scaled dataflow.json: the original graph, then copies of the repeated template with fresh node, value
/// and trace ids. Values computed in a copy get the template's fingerprints transformed per copy (float statistics
/// scaled by a factor, integer statistics shifted by an offset), identically on both sides, so a value is
/// equivalent to its counterpart in the same copy of the other side and to nothing in other copies, as two
/// decode steps of a real run produce different tokens and activations.
/// </summary>
internal static partial class DataflowScaler
{
    /// <summary>The plant: x -> to(float32) -> sigmoid -> mul(x, sigmoid) -> to(bfloat16), SiLU written out eagerly in fp32.</summary>
    static readonly (string Op, string Args, string CpuOp, string Kernel, string Types)[] Chain =
    [
        ("aten.to.dtype", "T,torch.float32", "aten::to", "copy_kernel", "c10::BFloat16, float"),
        ("aten.sigmoid.default", "T", "aten::sigmoid", "sigmoid_kernel", "float"),
        ("aten.mul.Tensor", "T,T", "aten::mul", "mul_kernel", "float"),
        ("aten.to.dtype", "T,torch.bfloat16", "aten::to", "copy_kernel", "float, c10::BFloat16"),
    ];

    /// <summary>The kernel plant: the same operator runs the unvectorized elementwise kernel.</summary>
    static readonly (string From, string To)[] Unvectorized =
    [
        ("vectorized_elementwise_kernel<8, ", "unrolled_elementwise_kernel<"),
        ("vectorized_elementwise_kernel<4, ", "unrolled_elementwise_kernel<"),
    ];

    public static double FloatFactor(int copy) => Math.Pow(1.05, copy % 4000);
    public static double IntOffset(int copy) => copy * 4096.0;

    public static DataflowScaleResult Write(DataflowSource d, StepStructure step, int copies, string systemSuffix,
        Func<int, int, bool> planted, string plantOperator, PlantKind kind, double weight, string outPath)
    {
        var template = StepTemplate.Of(d, step);
        var copier = new Copier(d, template, planted, plantOperator, kind, weight, copies);
        using var file = new FileStream(outPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        using (var w = new Utf8JsonWriter(file, new JsonWriterOptions { SkipValidation = true }))
        {
            w.WriteStartObject();
            foreach (var p in d.Root.EnumerateObject())
            {
                if (p.NameEquals("nodes") || p.NameEquals("values")) continue;
                if (p.NameEquals("system")) { w.WriteString("system", p.Value.GetString() + systemSuffix); continue; }
                p.WriteTo(w);
            }
            w.WritePropertyName("nodes");
            w.WriteStartArray();
            foreach (var node in d.Nodes) node.WriteTo(w);
            for (int r = 1; r < copies; r++) copier.WriteCopy(w, r);
            w.WriteEndArray();

            // Values are written after the nodes: what each copy needs was remembered while its nodes were written.
            w.WritePropertyName("values");
            w.WriteStartObject();
            foreach (var p in d.Root.GetProperty("values").EnumerateObject()) p.WriteTo(w);
            copier.WriteValues(w);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return new DataflowScaleResult
        {
            Operators = copier.Operators,
            Bytes = new FileInfo(outPath).Length,
            TraceMaps = copier.TraceMaps,
            TemplateTraceIds = template.TraceIds,
            Plants = copier.Plants,
            PlantNodes = copier.PlantNodes,
            CopyNodeIds = copier.CopyNodeIds,
        };
    }

    sealed record Synthetic(int Id, int Producer, int Like, int Copy, bool Sigmoid);

    static void WriteSigmoid(Utf8JsonWriter w, int id, int producer, JsonElement like)
    {
        long numel = like.GetProperty("numel").GetInt64();
        w.WritePropertyName(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        w.WriteStartObject();
        w.WritePropertyName("shape"); like.GetProperty("shape").WriteTo(w);
        w.WriteString("dtype", "float32");
        w.WritePropertyName("stride"); like.GetProperty("stride").WriteTo(w);
        w.WriteNumber("numel", numel);
        w.WriteString("device", "cuda");
        // sigmoid of a zero-mean activation: in (0, 1), centred on one half. Only side A has it: it matches nothing.
        w.WritePropertyName("stats");
        w.WriteStartObject();
        w.WriteNumber("mean", 0.5);
        w.WriteNumber("std", 0.21);
        w.WriteNumber("min", 0.02);
        w.WriteNumber("max", 0.98);
        w.WriteNumber("absmean", 0.5);
        w.WriteNumber("l2", Math.Sqrt(numel * (0.25 + 0.21 * 0.21)));
        w.WriteEndObject();
        w.WriteNumber("nonfinite", 0);
        w.WriteString("kind", "activation");
        w.WriteNumber("producer", producer);
        w.WriteEndObject();
    }

    static void WriteNode(Utf8JsonWriter w, JsonElement template, int id, IEnumerable<int> ins, IEnumerable<int> outs,
        IEnumerable<int> aliases, int? traceId, string? op, string? args)
    {
        w.WriteStartObject();
        foreach (var p in template.EnumerateObject())
        {
            switch (p.Name)
            {
                case "id": w.WriteNumber("id", id); break;
                case "op" when op is not null: w.WriteString("op", op); break;
                case "args" when args is not null: w.WriteString("args", args); break;
                case "view" when op is not null: w.WriteBoolean("view", false); break;
                case "mutable" when op is not null: w.WriteBoolean("mutable", false); break;
                case "in": Ints(w, "in", ins); break;
                case "out": Ints(w, "out", outs); break;
                case "aliases_updated": Ints(w, "aliases_updated", aliases); break;
                case "trace_id":
                    if (traceId is int t) w.WriteNumber("trace_id", t); else w.WriteNull("trace_id");
                    break;
                default: p.WriteTo(w); break;
            }
        }
        w.WriteEndObject();
    }

    static void Ints(Utf8JsonWriter w, string name, IEnumerable<int> values)
    {
        w.WritePropertyName(name);
        w.WriteStartArray();
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    /// <summary>A copy of a template value for copy <paramref name="copy"/> (0: unchanged fingerprint).</summary>
    static void WriteValue(Utf8JsonWriter w, int id, JsonElement template, int? producer, int copy, string? dtype)
    {
        double f = copy == 0 ? 1 : FloatFactor(copy);
        double o = copy == 0 ? 0 : IntOffset(copy);
        w.WritePropertyName(id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        w.WriteStartObject();
        long numel = template.GetProperty("numel").GetInt64();
        foreach (var p in template.EnumerateObject())
        {
            switch (p.Name)
            {
                case "producer":
                    if (producer is int pr) w.WriteNumber("producer", pr); else w.WriteNull("producer");
                    break;
                case "dtype" when dtype is not null: w.WriteString("dtype", dtype); break;
                case "kind" when producer is not null: w.WriteString("kind", "activation"); break;
                case "stats":
                    w.WritePropertyName("stats");
                    w.WriteStartObject();
                    foreach (var s in p.Value.EnumerateObject()) Scaled(w, s.Name, s.Value, f);
                    w.WriteEndObject();
                    break;
                case "deciles":
                    w.WritePropertyName("deciles");
                    ScaledArray(w, p.Value, f);
                    break;
                case "spectra":
                    w.WritePropertyName("spectra");
                    w.WriteStartObject();
                    foreach (var s in p.Value.EnumerateObject())
                    {
                        w.WritePropertyName(s.Name);
                        ScaledArray(w, s.Value, f);
                    }
                    w.WriteEndObject();
                    break;
                case "istats":
                    w.WritePropertyName("istats");
                    w.WriteStartObject();
                    double sum = Num(p.Value, "sum");
                    foreach (var s in p.Value.EnumerateObject())
                    {
                        if (s.Value.ValueKind != JsonValueKind.Number) { s.WriteTo(w); continue; }
                        double x = s.Value.GetDouble();
                        // Every element shifted by o: sum + n o, extremes + o, sum of squares + 2 o sum + n o^2.
                        double y = s.Name switch
                        {
                            "sum" => x + numel * o,
                            "min" or "max" => x + o,
                            "sumsq" => x + 2 * o * sum + numel * o * o,
                            _ => x,
                        };
                        w.WriteNumber(s.Name, y);
                    }
                    w.WriteEndObject();
                    break;
                default: p.WriteTo(w); break;
            }
        }
        w.WriteEndObject();
    }

    static double Num(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;

    static void Scaled(Utf8JsonWriter w, string name, JsonElement v, double f)
    {
        if (v.ValueKind == JsonValueKind.Number) w.WriteNumber(name, v.GetDouble() * f);
        else { w.WritePropertyName(name); v.WriteTo(w); }
    }

    static void ScaledArray(Utf8JsonWriter w, JsonElement a, double f)
    {
        w.WriteStartArray();
        foreach (var x in a.EnumerateArray())
        {
            if (x.ValueKind == JsonValueKind.Number) w.WriteNumberValue(x.GetDouble() * f);
            else x.WriteTo(w);
        }
        w.WriteEndArray();
    }
}
