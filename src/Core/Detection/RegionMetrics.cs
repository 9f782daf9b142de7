using System.Text.RegularExpressions;
using Magneton.Core.Matching;
using Magneton.Core.Runs;

namespace Magneton.Core.Detection;

/// <summary>Energy and time of one side of a matched region, per job iteration.</summary>
public sealed record RegionSide(double EnergyJ, double GpuSeconds, string EnergySource, IReadOnlyList<string> Ops,
    IReadOnlyList<string> Modules)
{
    /// <summary>Host (CPU) time of the region's operators per iteration: the cost in a CPU capture.</summary>
    public double CpuSeconds { get; init; }

    public static RegionSide Of(Run run, int[] nodes)
    {
        double e = 0, t = 0, cpu = 0;
        bool replay = false, timeline = false;
        var ops = new List<string>();
        var modules = new List<string>();
        foreach (var i in nodes)
        {
            var op = run.Operators[i];
            e += op.EnergyJ;
            t += op.GpuSeconds;
            cpu += op.CpuSeconds;
            if (op.Source == Runs.EnergySource.Replay) replay = true;
            if (op.Source == Runs.EnergySource.Timeline) timeline = true;
            if (op.IsPureView) continue;
            ops.Add(op.Op);
            if (!modules.Contains(op.Module)) modules.Add(op.Module);
        }
        string source = replay && timeline ? "replay+timeline" : replay ? "replay" : timeline ? "timeline" : "none";
        return new RegionSide(e, t, source, ops, modules) { CpuSeconds = cpu };
    }
}

public static partial class RegionKey
{
    [GeneratedRegex(@"\.\d+(?=\.|$)")] private static partial Regex LayerIndex();

    /// <summary>A module path with layer/step indices folded, so per-layer repeats share one name.</summary>
    public static string FoldIndices(string module) => LayerIndex().Replace(module, ".*");

    /// <summary>Regions with the same operators on both sides in the same (folded) module are one pattern.</summary>
    public static string Of(RegionSide a, RegionSide b) =>
        string.Join(",", a.Ops) + " => " + string.Join(",", b.Ops) + " @ " +
        string.Join(",", a.Modules.Select(FoldIndices).Distinct()) + " | " +
        string.Join(",", b.Modules.Select(FoldIndices).Distinct());
}
