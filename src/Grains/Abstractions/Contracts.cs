using Magneton.Core;

namespace Magneton.Grains;

/// <summary>What a run grain knows about its ingested bundle: small, so it travels and can be stored.</summary>
[GenerateSerializer, Alias("Magneton.RunSummary")]
public sealed record RunSummary(
    [property: Id(0)] string RunId,
    [property: Id(1)] string System,
    [property: Id(2)] string BundlePath,
    [property: Id(3)] int Operators,
    [property: Id(4)] int ComputingOperators,
    [property: Id(5)] double IterationEnergyJ,
    [property: Id(6)] double IterationSeconds,
    [property: Id(7)] double OperatorEnergyJ,
    [property: Id(8)] double OperatorGpuSeconds,
    [property: Id(9)] double ReplayShare,
    [property: Id(10)] double Closure,
    [property: Id(11)] string? Device,
    [property: Id(12)] double IngestMs);

/// <summary>
/// One comparison: two bundles (paths as the silo sees them) with optional run ids. A missing run id is
/// derived from the bundle's full path (<see cref="RunIds.FromPath"/>), so the same bundle maps to the same run grain.
/// </summary>
[GenerateSerializer, Alias("Magneton.CompareRequest")]
public sealed record CompareRequest(
    [property: Id(0)] string BundleA,
    [property: Id(1)] string BundleB,
    [property: Id(2)] string? RunIdA = null,
    [property: Id(3)] string? RunIdB = null,
    [property: Id(4)] double Threshold = 0.10,
    [property: Id(5)] double TimeTolerance = 0.01,
    [property: Id(6)] double OutputTolerance = 0.01)
{
    public CompareOptions ToOptions() =>
        new() { Threshold = Threshold, TimeTolerance = TimeTolerance, OutputTolerance = OutputTolerance };
}

/// <summary>
/// Bad input (an unreadable or invalid bundle) as it crosses grain calls. The message is Core's one line
/// "file: field: problem", which the CLI prints as is (exit code 2).
/// </summary>
[GenerateSerializer, Alias("Magneton.MagnetonInputException")]
public sealed class MagnetonInputException : Exception
{
    public MagnetonInputException(string message, string? file = null, string? field = null) : base(message)
    {
        File = file;
        Field = field;
    }

    [Id(0)] public string? File { get; init; }
    [Id(1)] public string? Field { get; init; }
}
