using System.Text.Json;
using static Magneton.Core.Bundles.JsonFields;

namespace Magneton.Core.Bundles;

/// <summary>dataflow.json: the operator graph of the semantic pass, with every id reference checked.</summary>
internal static class DataflowReader
{
    private const string File = BundleFiles.Dataflow;

    public static Dataflow Read(string path)
    {
        var dataflow = JsonFile.Parse(path, File, Parse);
        Validate(dataflow);
        return dataflow;
    }

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
