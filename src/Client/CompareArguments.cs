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
    int? Rank = null,
    TimeSpan? Timeout = null,
    bool Cancel = false,
    int? StepA = null,
    int? StepB = null)
{
    public const double DefaultThreshold = CliOptions.DefaultThreshold;

    /// <summary>--timeout: how long a --cluster compare may take in all before it ends with one line (exit 2).</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromHours(1);
}
