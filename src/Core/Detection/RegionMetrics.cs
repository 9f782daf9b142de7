using Magneton.Core.Energy;
using Magneton.Core.Matching;
using Magneton.Core.Runs;

namespace Magneton.Core.Detection;

/// <summary>Energy and time of one side of a matched region, per job iteration, with where the energy came from.</summary>
public sealed record RegionSide(double EnergyJ, double GpuSeconds, string EnergySource, IReadOnlyList<string> Ops,
    IReadOnlyList<string> Modules)
{
    public double SigmaJ { get; init; }
    /// <summary>Host (CPU) time of the region's operators per iteration: the cost in a CPU capture.</summary>
    public double CpuSeconds { get; init; }
    /// <summary>Energy above idle power (what a host-bound job saves when these kernels get shorter).</summary>
    public double DynamicEnergyJ { get; init; }
    /// <summary>Share of <see cref="EnergyJ"/> by source.</summary>
    public IReadOnlyDictionary<Runs.EnergySource, double> SourceShares { get; init; } = new Dictionary<Runs.EnergySource, double>();
    /// <summary>The replayed energy of the module calls this side consists of, when it is exactly such calls.</summary>
    public EnergyEstimate? Replay { get; init; }
    public EnergyEstimate Estimate => new(EnergyJ, SigmaJ);

    public static RegionSide Of(Run run, int[] nodes)
    {
        double e = 0, t = 0, cpu = 0, var = 0, dyn = 0;
        var bySource = new Dictionary<Runs.EnergySource, double>();
        var ops = new List<string>();
        var modules = new List<string>();
        foreach (var i in nodes)
        {
            var op = run.Operators[i];
            e += op.EnergyJ;
            t += op.GpuSeconds;
            cpu += op.CpuSeconds;
            var += op.EnergySigmaJ * op.EnergySigmaJ;
            dyn += op.DynamicEnergyJ;
            if (op.GpuSeconds > 0) bySource[op.Source] = bySource.GetValueOrDefault(op.Source) + op.EnergyJ;
            if (op.IsPureView) continue;
            ops.Add(op.Op);
            if (!modules.Contains(op.Module)) modules.Add(op.Module);
        }
        var shares = Runs.EnergySources.Measured.Where(bySource.ContainsKey)
            .ToDictionary(s => s, s => e > 0 ? bySource[s] / e : 0);
        string source = shares.Count == 0 ? "none" : string.Join("+", shares.Keys.Select(Runs.EnergySources.Json));
        return new RegionSide(e, t, source, ops, modules)
        {
            SigmaJ = Math.Sqrt(var), CpuSeconds = cpu, DynamicEnergyJ = dyn, SourceShares = shares, Replay = ReplayedCalls(run, nodes),
        };
    }

    /// <summary>
    /// The replayed energy when the side's GPU work is exactly a set of replayed module calls (largest calls first);
    /// null when any operator with GPU time is left over or a call is only partly inside.
    /// </summary>
    /// <summary>
    /// In-situ and replayed GPU time within this factor of each other: in-situ against replay differs by up to ~20% for
    /// small kernels (warm L2, clocks; docs/PERFORMANCE.md), so a larger gap means the call ran other work than the one
    /// replayed (another kernel, another path) and its replay cannot stand for it.
    /// </summary>
    const double ReplayTimeAgreement = 1.5;

    static bool RanAsReplayed(ReplayedCall call) =>
        call.ReplayEnergyJ > 0 && call.InSituEnergyJ / call.ReplayEnergyJ is var r && r <= ReplayTimeAgreement && r >= 1 / ReplayTimeAgreement;

    static EnergyEstimate? ReplayedCalls(Run run, int[] nodes)
    {
        if (run.Energy is not { ReplayedCalls.Count: > 0 } energy) return null;
        var calls = nodes.SelectMany(i => energy.CallsOf[i]).Distinct();
        var inside = new HashSet<int>(nodes);
        var covered = new HashSet<int>();
        var total = new EnergyEstimate(0, 0);
        bool any = false;
        foreach (var call in calls.OrderByDescending(c => c.Operators.Length))
        {
            if (!call.Operators.All(inside.Contains) || call.Operators.Any(covered.Contains)) continue;
            if (!RanAsReplayed(call)) continue;
            covered.UnionWith(call.Operators);
            total += new EnergyEstimate(call.ReplayEnergyJ, call.ReplayEnergySigmaJ);
            any = true;
        }
        if (!any) return null;
        foreach (var i in nodes)
            if (run.Operators[i].GpuSeconds > 0 && !covered.Contains(i)) return null;
        return total;
    }
}

public static class RegionKey
{
    /// <summary>Regions with the same operators on both sides in the same (folded) module are one pattern.</summary>
    public static string Of(RegionSide a, RegionSide b) =>
        string.Join(",", a.Ops) + " => " + string.Join(",", b.Ops) + " @ " +
        string.Join(",", a.Modules.Select(ModulePath.FoldIndices).Distinct()) + " | " +
        string.Join(",", b.Modules.Select(ModulePath.FoldIndices).Distinct());
}
