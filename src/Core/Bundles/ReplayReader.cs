using System.Globalization;
using System.Text.Json;
using static Magneton.Core.Bundles.JsonFields;

namespace Magneton.Core.Bundles;

/// <summary>replay.json: long-replay ground truth per operator and per module.</summary>
internal static class ReplayReader
{
    private const string File = BundleFiles.Replay;

    public static ReplayDocument Read(string path) => JsonFile.Parse(path, File, Parse);

    private static ReplayDocument Parse(JsonElement root)
    {
        Expect(root, JsonValueKind.Object, "$");
        ReplayIdle? idle = null;
        if (TryGet(root, "idle", out var idleJson))
        {
            try
            {
                var (start, end) = Window(idleJson, "window_unix_ns");
                idle = new ReplayIdle(start, end, OptionalDouble(idleJson, "power_w"));
            }
            catch (JsonFieldException ex)
            {
                throw ex.Under("idle");
            }
        }

        // A replay that failed as a whole leaves an error and whatever items it finished; no items at all is legal.
        var items = new List<ReplayItem>();
        if (TryGet(root, "items", out var itemsJson))
        {
            Expect(itemsJson, JsonValueKind.Array, "items");
            int i = 0;
            foreach (var item in itemsJson.EnumerateArray())
            {
                try
                {
                    items.Add(Item(item));
                }
                catch (JsonFieldException ex)
                {
                    throw ex.Under($"items[{i}]");
                }
                i++;
            }
        }
        return new ReplayDocument(idle, items)
        {
            System = root.TryGetProperty("system", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null,
        };
    }

    private static ReplayItem Item(JsonElement item)
    {
        Expect(item, JsonValueKind.Object, "");
        var kind = String(item, "kind");
        if (kind is not ("op" or "module")) throw new JsonFieldException("kind", $"unknown kind \"{kind}\" (expected op or module)");
        var idJson = Required(item, "id");
        var id = idJson.ValueKind switch
        {
            JsonValueKind.String => idJson.GetString()!,
            JsonValueKind.Number => AsInt64(idJson, "id").ToString(CultureInfo.InvariantCulture),
            _ => throw new JsonFieldException("id", $"expected a number or a string, got {Kind(idJson)}"),
        };
        var error = OptionalString(item, "error");

        // An item whose replay raised has only its identity and the error; the measurements are required otherwise.
        bool measured = error is null || TryGet(item, "window_unix_ns", out _);
        var (start, end) = measured ? Window(item, "window_unix_ns") : (0L, 0L);
        return new ReplayItem(
            kind,
            id,
            OptionalString(item, "op"),
            OptionalString(item, "module"),
            kind == "op" ? Int32(item, "node") : OptionalInt32(item, "node"),
            start,
            end,
            measured ? Int64(item, "launches") : 0,
            measured ? Double(item, "gpu_s") : double.NaN,
            OptionalString(item, "mode"),
            measured ? Int64(item, "calls") : 0,
            measured ? Double(item, "call_us") : double.NaN,
            OptionalDouble(item, "power_w"),
            TryGet(item, "counter_updates", out _) ? Int32(item, "counter_updates") : 0,
            OptionalDouble(item, "energy_j"),
            OptionalDouble(item, "call_energy_mj"),
            error);
    }

    /// <summary>
    /// An op item replays one dataflow node, identified twice (node id and trace_id); both must agree with the graph,
    /// and a module item must name a module the graph ran in.
    /// </summary>
    public static void Validate(ReplayDocument replay, Dataflow dataflow)
    {
        Dictionary<int, DataflowNode>? byId = null;
        HashSet<string>? modules = null;
        for (int i = 0; i < replay.Items.Count; i++)
        {
            var item = replay.Items[i];
            if (item.Kind == "op")
            {
                byId ??= dataflow.Nodes.ToDictionary(n => n.Id);
                if (!int.TryParse(item.Id, NumberStyles.None, CultureInfo.InvariantCulture, out int traceId))
                    throw new BundleException(File, $"items[{i}].id", $"op item id \"{item.Id}\" is not a trace_id");
                if (!byId.TryGetValue(item.Node!.Value, out var node))
                    throw new BundleException(File, $"items[{i}].node", $"node {item.Node} is not in dataflow.json");
                if (node.TraceId != traceId)
                    throw new BundleException(File, $"items[{i}].id",
                        $"trace_id {traceId} but dataflow node {node.Id} has trace_id {node.TraceId?.ToString(CultureInfo.InvariantCulture) ?? "null"}");
                if (item.Op is { } op && op != node.Op)
                    throw new BundleException(File, $"items[{i}].op", $"\"{op}\" but dataflow node {node.Id} is \"{node.Op}\"");
            }
            else if (item.Module is { } module)
            {
                modules ??= ModulesWithAncestors(dataflow);
                if (!modules.Contains(module))
                    throw new BundleException(File, $"items[{i}].module", $"module \"{module}\" ran no operator in dataflow.json");
            }
        }
    }

    private static HashSet<string> ModulesWithAncestors(Dataflow dataflow)
    {
        // Operators record their innermost module; a replayed block (transformer.h.0) is an ancestor of those paths.
        var set = new HashSet<string>(StringComparer.Ordinal) { "" };
        foreach (var node in dataflow.Nodes)
        {
            var m = node.Module;
            while (set.Add(m))
            {
                int dot = m.LastIndexOf('.');
                if (dot < 0) break;
                m = m[..dot];
            }
        }
        return set;
    }
}
