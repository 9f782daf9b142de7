namespace Magneton.Core.Bundles;

/// <summary>
/// context.json against dataflow.json: it holds the source lines of every stack frame the dataflow's operators name
/// and the class of every module they ran in, and its flags and model config agree with the dataflow's config where
/// both name a key. A context of another capture would otherwise lend its flags, classes and source lines to this
/// one's causes.
/// </summary>
internal static class ContextConsistency
{
    public static void Require(CaptureContext context, Dataflow dataflow)
    {
        // The root module is named by its class ("ResNet"): context.json lists it under "", qualified.
        string root = context.Modules.GetValueOrDefault("") ?? "";
        if (context.Modules.Count > 0)
            foreach (var node in dataflow.Nodes)
                if (node.Module.Length > 0 && !context.Modules.ContainsKey(node.Module) && root != node.Module
                    && !root.EndsWith("." + node.Module, StringComparison.Ordinal))
                    throw new BundleException(BundleFiles.Context, "modules",
                        $"has no module \"{node.Module}\" of {BundleFiles.Dataflow} node {node.Id} (files of different captures?)");
        if (context.Source.Count > 0)
            foreach (var node in dataflow.Nodes)
                foreach (var frame in node.Stack)
                    if (!context.Source.ContainsKey(frame))
                        throw new BundleException(BundleFiles.Context, "source",
                            $"has no lines for frame \"{frame}\" of {BundleFiles.Dataflow} node {node.Id} (files of different captures?)");
        foreach (var (key, value) in dataflow.Config)
        {
            if (Differs(context.Flags, key, value, out var flag))
                throw new BundleException(BundleFiles.Context, $"flags.{key}",
                    $"is {flag} but {BundleFiles.Dataflow} config.{key} is {value} (files of different captures?)");
            if (Differs(context.ModelConfig, key, value, out var config))
                throw new BundleException(BundleFiles.Context, $"model_config.{key}",
                    $"is {config} but {BundleFiles.Dataflow} config.{key} is {value} (files of different captures?)");
        }
    }

    /// <summary>Both name the key with a value (a null in either says nothing) and the values differ.</summary>
    static bool Differs(IReadOnlyDictionary<string, string> map, string key, string value, out string other) =>
        map.TryGetValue(key, out other!) && other != "null" && value != "null" && other != value;
}
