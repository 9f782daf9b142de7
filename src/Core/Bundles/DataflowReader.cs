using System.Text.Json;

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
    /// dataflow of a million operators is a gigabyte of JSON); see <see cref="Document"/>. The reader state carries
    /// line and byte positions across refills, so a syntax error is reported where the whole-document reader put it.
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
            try
            {
                return new Document(tokens).Run();
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

    /// <summary>The first refusal in the whole-document reader's order, else the dataflow.</summary>
    private static Dataflow Assemble(Document.TopLevel t)
    {
        if (t.RootKind is not null) throw new JsonFieldException("$", $"expected an object, got {t.RootKind}");
        if (!t.FormatSeen) throw new JsonFieldException("format", "is missing");
        if (t.FormatProblem is not null) throw t.FormatProblem;
        if (t.Format != BundleFiles.Format)
            throw new BundleException(File, "format", $"unknown format \"{t.Format}\" (this reader understands \"{BundleFiles.Format}\")");
        if (t.ConfigProblem is not null) throw t.ConfigProblem;
        if (!t.NodesSeen) throw new JsonFieldException("nodes", "is missing");
        if ((t.NodesProblem ?? t.NodesError) is { } nodes) throw nodes;
        if (!t.ValuesSeen) throw new JsonFieldException("values", "is missing");
        if ((t.ValuesProblem ?? t.ValuesError) is { } values) throw values;
        if (t.PairProblem is not null) throw t.PairProblem;
        if (!t.SystemSeen) throw new JsonFieldException("system", "is missing");
        if (t.SystemProblem is not null) throw t.SystemProblem;
        if (t.RoleProblem is not null) throw t.RoleProblem;
        return new Dataflow(t.Format, t.Pair, t.System!, t.Role, t.Config ?? new Dictionary<string, string>(), t.Nodes.ToArray(), t.Values);
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
