using System.Text.RegularExpressions;

namespace Magneton.Core.Runs;

/// <summary>Module paths (transformer.h.3.mlp) as the run model names an operator's place.</summary>
public static partial class ModulePath
{
    [GeneratedRegex(@"\.\d+(?=\.|$)")] private static partial Regex LayerIndex();

    /// <summary>A module path with layer/step indices folded, so per-layer repeats share one name.</summary>
    public static string FoldIndices(string module) => LayerIndex().Replace(module, ".*");
}
