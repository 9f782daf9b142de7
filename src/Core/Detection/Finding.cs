namespace Magneton.Core.Detection;

/// <summary>
/// One cause of waste: the equivalent region pairs, at every site (module, layer, step) where the same cause
/// makes one side spend more energy for the same result. Energies are per job iteration, summed over the sites
/// (the threshold and the floor were applied to these sums).
/// </summary>
public sealed record Finding(
    int Id,
    string Verdict,
    string Wasteful,
    IReadOnlyList<int> Regions,
    int Instances,
    double WastefulEnergyJ,
    double EfficientEnergyJ,
    double WastefulSeconds,
    double EfficientSeconds,
    string EnergySource,
    string Where)
{
    /// <summary>The cause kind the grouping decided (layout, operator-set, kernel-choice, ...); empty before grouping.</summary>
    public string Kind { get; init; } = "";
    /// <summary>Where the cause shows, one entry per module (layer indices kept), largest difference first.</summary>
    public IReadOnlyList<FindingSite> Sites { get; init; } = [];
    public const string Waste = "waste";
    public const string TradeOff = "trade-off";
    /// <summary>A CPU capture's finding: more CPU time for the same result (no energy was measured).</summary>
    public const string CpuTime = "cpu-time";
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
