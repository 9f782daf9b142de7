namespace Magneton.Core.Detection;

/// <summary>
/// A group of equivalent region pairs (one pattern, repeated per layer or step) where one side spends
/// measurably more energy for the same result. Energies are per job iteration, summed over instances.
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
    public const string Waste = "waste";
    public const string TradeOff = "trade-off";
    /// <summary>A CPU capture's finding: more CPU time for the same result (no energy was measured).</summary>
    public const string CpuTime = "cpu-time";
    public double EnergyDeltaJ => WastefulEnergyJ - EfficientEnergyJ;
    /// <summary>Wasteful over efficient; capped where the efficient side launched no GPU work at all.</summary>
    public double EnergyRatio => EfficientEnergyJ > 0 ? WastefulEnergyJ / EfficientEnergyJ : WastefulEnergyJ > 0 ? Detector.RatioCap : 0;
    public double TimeRatio => EfficientSeconds > 0 ? WastefulSeconds / EfficientSeconds : Detector.RatioCap;
}
