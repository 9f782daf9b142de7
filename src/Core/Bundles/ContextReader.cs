using System.Text.Json;
using static Magneton.Core.Bundles.JsonFields;

namespace Magneton.Core.Bundles;

/// <summary>context.json: framework flags, module classes, model config and the source lines around stack frames.</summary>
internal static class ContextReader
{
    public static CaptureContext Read(string path) => JsonFile.Parse(path, BundleFiles.Context, Parse);

    private static CaptureContext Parse(JsonElement root)
    {
        Expect(root, JsonValueKind.Object, "$");
        return new CaptureContext(
            MapOrEmpty(root, "flags"),
            Modules(root),
            ModelConfig(root),
            Source(root),
            MapOrEmpty(root, "versions"));
    }

    private static Dictionary<string, string> MapOrEmpty(JsonElement root, string name) =>
        TryGet(root, name, out _) ? RenderedMap(root, name) : new Dictionary<string, string>(StringComparer.Ordinal);

    private static Dictionary<string, string> Modules(JsonElement root)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!TryGet(root, "modules", out var modules)) return result;
        Expect(modules, JsonValueKind.Object, "modules");
        foreach (var p in modules.EnumerateObject())
        {
            var key = Segment("modules", p.Name);
            if (!result.TryAdd(p.Name, AsString(p.Value, key))) throw new JsonFieldException(key, "duplicate module path");
        }
        return result;
    }

    /// <summary>
    /// Nested config objects (id2label, rope_parameters) are flattened to dotted keys so that a diff of two configs
    /// names the leaf that differs; arrays stay whole, as compact JSON.
    /// </summary>
    private static Dictionary<string, string> ModelConfig(JsonElement root)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        // Models without a HF config (torchvision, hand-written stages) have model_config null.
        if (TryGet(root, "model_config", out var config))
        {
            Expect(config, JsonValueKind.Object, "model_config");
            Flatten(config, "", result);
        }
        return result;
    }

    private static void Flatten(JsonElement obj, string prefix, Dictionary<string, string> into)
    {
        foreach (var p in obj.EnumerateObject())
        {
            var key = prefix.Length == 0 ? p.Name : prefix + "." + p.Name;
            if (p.Value.ValueKind == JsonValueKind.Object && p.Value.EnumerateObject().Any())
                Flatten(p.Value, key, into);
            else if (!into.TryAdd(key, Render(p.Value)))
                throw new JsonFieldException(Segment("model_config", key), "duplicate key after flattening");
        }
    }

    private static Dictionary<string, IReadOnlyList<SourceLine>> Source(JsonElement root)
    {
        var result = new Dictionary<string, IReadOnlyList<SourceLine>>(StringComparer.Ordinal);
        if (!TryGet(root, "source", out var source)) return result;
        Expect(source, JsonValueKind.Object, "source");
        foreach (var frame in source.EnumerateObject())
        {
            var key = $"source[\"{frame.Name}\"]";
            // The capture writes {"lines": [...]} per frame; a bare list is the same thing without the wrapper.
            var lines = frame.Value.ValueKind == JsonValueKind.Object
                ? Expect(Required(frame.Value, "lines"), JsonValueKind.Array, key + ".lines")
                : Expect(frame.Value, JsonValueKind.Array, key);
            var list = new SourceLine[lines.GetArrayLength()];
            int i = 0;
            foreach (var line in lines.EnumerateArray())
            {
                var at = $"{key}.lines[{i}]";
                if (line.ValueKind != JsonValueKind.Array || line.GetArrayLength() != 2)
                    throw new JsonFieldException(at, "expected [line number, text]");
                list[i++] = new SourceLine(AsInt32(line[0], at + "[0]"), AsString(line[1], at + "[1]"));
            }
            if (!result.TryAdd(frame.Name, list)) throw new JsonFieldException(key, "duplicate frame");
        }
        return result;
    }
}
