namespace Magneton.Client;

/// <summary>What <c>magneton compare</c> was asked to do, as its definition (<see cref="CompareCommand.Definition"/>) reads it.</summary>
public sealed record CompareArguments(
    string BundleA,
    string BundleB,
    double Threshold,
    string? Json,
    bool FailOnWaste,
    bool Quiet,
    ClusterTarget? Cluster = null,
    string? Html = null,
    int? Step = null,
    int? Rank = null)
{
    public const double DefaultThreshold = CliOptions.DefaultThreshold;
}
