using Magneton.Core.Energy;
using Magneton.Core.Matching;

namespace Magneton.Core.Detection;

/// <summary>
/// One cause of waste: the equivalent region pairs, at every site (module, layer, step) where the same cause
/// makes one side spend more energy for the same result. Energies are per job iteration, summed over the sites
/// (the threshold and the floor were applied to these sums).
/// </summary>
public sealed record Finding(
    int Id,
    Verdict Verdict,
    Side Wasteful,
    IReadOnlyList<int> Regions,
    int Instances,
    double WastefulEnergyJ,
    double EfficientEnergyJ,
    double WastefulSeconds,
    double EfficientSeconds,
    string EnergySource,
    string Where)
{
    /// <summary>The cause kind the grouping decided (layout, operator-set, kernel-choice, ...); None before grouping.</summary>
    public CauseKind Kind { get; init; }
    /// <summary>Where the cause shows, one entry per module (layer indices kept), largest difference first.</summary>
    public IReadOnlyList<FindingSite> Sites { get; init; } = [];

    /// <summary>The energy ratio's interval (two sigmas); a waste or trade-off verdict needs Low above the threshold.</summary>
    public RatioInterval Interval { get; init; }
    /// <summary>In-situ unless Detector took the replay basis (CPU findings keep in-situ, as their reports always said).</summary>
    public EnergyBasis Basis { get; init; } = EnergyBasis.InSitu;
    /// <summary>The in-situ model's ratio where the replay basis is primary (cross-check); null otherwise.</summary>
    public double? InSituRatio { get; init; }
    /// <summary>Share of the regions' energy (both sides) by source.</summary>
    public IReadOnlyDictionary<Runs.EnergySource, double> SourceShares { get; init; } = new Dictionary<Runs.EnergySource, double>();
    /// <summary>
    /// What the wasteful job would save per iteration by doing what the efficient side does: the whole difference in a
    /// GPU-bound job (shorter kernels shorten it), only the dynamic part (difference less idle power x GPU time saved)
    /// in a host-bound one, where the GPU idles instead.
    /// </summary>
    public double JobSavingJ { get; init; }
    public bool SavingIsDynamic { get; init; }
    public double EnergyDeltaJ => WastefulEnergyJ - EfficientEnergyJ;
    /// <summary>Wasteful over efficient; capped where the efficient side launched no GPU work at all.</summary>
    public double EnergyRatio => EfficientEnergyJ > 0 ? WastefulEnergyJ / EfficientEnergyJ : WastefulEnergyJ > 0 ? Detector.RatioCap : 0;
    public double TimeRatio => EfficientSeconds > 0 ? WastefulSeconds / EfficientSeconds : Detector.RatioCap;
}

/// <summary>One place of a finding: the regions in one module (its layer or step index kept), with their energies.</summary>
public sealed record FindingSite(
    string Where,
    IReadOnlyList<int> Regions,
    double WastefulEnergyJ,
    double EfficientEnergyJ,
    double WastefulSeconds,
    double EfficientSeconds)
{
    public double EnergyDeltaJ => WastefulEnergyJ - EfficientEnergyJ;
}
