using Magneton.Core;
using Magneton.Core.Matching;

namespace Magneton.Grains;

/// <summary>What a run grain knows about its ingested bundle: small, so it travels and can be stored.</summary>
[GenerateSerializer, Alias("Magneton.RunSummary")]
public sealed record RunSummary(
    [property: Id(0)] string RunId,
    [property: Id(1)] string System,
    /// <summary>Where the bundle came from: the local directory, or the path it was uploaded from.</summary>
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
    [property: Id(12)] double IngestMs)
{
    /// <summary>The job the run performed (<c>AuditAnalysis.JobSignature</c>): equal for captures of one job.</summary>
    [Id(13)] public string JobSignature { get; init; } = "";
    /// <summary>Where it ran (measure.json "node"; the system name when the capture did not record it).</summary>
    [Id(14)] public string Host { get; init; } = "";
    [Id(15)] public string? Driver { get; init; }
    [Id(16)] public double? PowerLimitW { get; init; }
}

/// <summary>
/// A run as a grain call names it: its id, and where a silo finds the bundle. With a <see cref="LocalPath"/>
/// every silo reads that directory (the embedded CLI, or a filesystem all silos share); without one the bundle
/// is in the cluster's bundle store, uploaded under the run id.
/// </summary>
[GenerateSerializer, Alias("Magneton.RunRef")]
public sealed record RunRef(
    [property: Id(0)] string RunId,
    [property: Id(1)] string? LocalPath = null)
{
    /// <summary>A bundle directory every silo can read; the id is derived from its full path.</summary>
    public static RunRef Local(string bundlePath)
    {
        var path = RunIds.NormalizePath(bundlePath);
        return new RunRef(RunIds.FromPath(path), path);
    }

    /// <summary>A bundle in the cluster's store.</summary>
    public static RunRef Stored(string runId) => new(runId);

    /// <summary>The same run with its local path normalized, so "dir" and "dir/" are one run.</summary>
    public RunRef Normalized() => LocalPath is null ? this : this with { LocalPath = RunIds.NormalizePath(LocalPath) };

    public override string ToString() => LocalPath ?? RunIds.Typed(RunId);
}

/// <summary>One comparison: run A against run B, with the method's thresholds.</summary>
[GenerateSerializer, Alias("Magneton.CompareRequest")]
public sealed record CompareRequest(
    [property: Id(0)] RunRef A,
    [property: Id(1)] RunRef B,
    [property: Id(4)] double Threshold = 0.10,
    [property: Id(5)] double TimeTolerance = 0.01,
    [property: Id(6)] double OutputTolerance = Magneton.Core.Matching.Fingerprint.DefaultTolerance)
{
    /// <summary>Two local bundle directories (every silo reads them itself).</summary>
    public static CompareRequest ForPaths(string bundleA, string bundleB, double threshold = 0.10) =>
        new(RunRef.Local(bundleA), RunRef.Local(bundleB), threshold);

    public CompareOptions ToOptions() =>
        new() { Threshold = Threshold, TimeTolerance = TimeTolerance, OutputTolerance = OutputTolerance };
}

public enum JobPhase
{
    /// <summary>No request yet.</summary>
    New,
    Ingesting,
    Matching,
    Diagnosing,
    Done,
    /// <summary>Ended on bad input; <see cref="JobStatus.Error"/> says why (one line). Retrying will not help.</summary>
    Failed,
}

/// <summary>
/// Where a comparison job stands. Progress counts come from the persisted state, so after a silo loss
/// <see cref="SegmentsRestored"/> says how much was kept and <see cref="SegmentsDispatched"/> how much was redone.
/// <see cref="ProgressSaved"/>: every segment finished so far is persisted (a silo lost now loses none of them).
/// </summary>
[GenerateSerializer, Alias("Magneton.JobStatus")]
public sealed record JobStatus(
    [property: Id(0)] string JobId,
    [property: Id(1)] JobPhase Phase,
    [property: Id(2)] int SegmentsTotal,
    [property: Id(3)] int SegmentsDone,
    [property: Id(4)] int FindingsTotal,
    [property: Id(5)] int FindingsDiagnosed,
    [property: Id(6)] string? Error,
    [property: Id(7)] int Resumes,
    [property: Id(8)] int SegmentsRestored,
    [property: Id(9)] int SegmentsDispatched,
    [property: Id(10)] string Silo,
    [property: Id(11)] bool ProgressSaved = false)
{
    public bool Finished => Phase is JobPhase.Done or JobPhase.Failed;

    /// <summary>
    /// Why the job is not progressing now (storage or silos failed beyond the grain's retries), one line; null
    /// while it progresses. Not final: the next <see cref="IMatchingJobGrain.Wait"/> takes the job up again.
    /// </summary>
    [Id(20)] public string? Problem { get; init; }

    /// <summary>
    /// A run of the request whose bundle the store does not hold (lost by storage). The job waits for it: upload
    /// the bundle again and call <see cref="IMatchingJobGrain.Start"/>.
    /// </summary>
    [Id(21)] public string? MissingRun { get; init; }

    /// <summary>Stopped by <see cref="IMatchingJobGrain.Cancel"/>; a new Start takes it up again.</summary>
    [Id(22)] public bool Cancelled { get; init; }
}

/// <summary>
/// The cluster could not do it now: its storage failed, or a stored run's bundle is gone (<see cref="RunId"/>
/// set: upload it again). Not a verdict about the input, so callers retry. Grain calls throw this instead of the
/// storage client's own exceptions, which do not cross the wire; the message is one line with the cause.
/// </summary>
[GenerateSerializer, Alias("Magneton.MagnetonUnavailableException")]
public sealed class MagnetonUnavailableException : Exception
{
    public MagnetonUnavailableException(string message, string? runId = null) : base(message) => RunId = runId;

    /// <summary>The run whose bundle the store does not hold, when that is the cause.</summary>
    [Id(0)] public string? RunId { get; init; }
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

/// <summary>
/// A slice of a finished job's report, UTF-8 JSON as <see cref="Magneton.Core.Reporting.ReportJson"/> writes it,
/// from <c>offset</c> (the argument of <see cref="IMatchingJobGrain.GetReportJson"/>); <see cref="Total"/> is the
/// whole report's length. A report is fetched in slices because at a million operators a side it is hundreds of MB,
/// past Orleans' message limit, and a byte slice crosses the wire as one copy where the report's records took the
/// job grain's turn 7-14 s to serialize at 100k.
/// </summary>
[GenerateSerializer, Immutable, Alias("Magneton.ReportChunk")]
public sealed record ReportChunk([property: Id(0)] byte[] Json, [property: Id(1)] long Total)
{
    /// <summary>The largest slice: well under Orleans' 100 MB message body, and a few round trips at 100k operators.</summary>
    public const int MaxBytes = 8 << 20;
}
