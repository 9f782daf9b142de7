using Magneton.Core.Reporting;
using Orleans.Concurrency;

namespace Magneton.Grains;

/// <summary>
/// One comparison job (key: job id): ingest both runs, prepare the match session, fan the top-level segments
/// out to <see cref="ISegmentMatcherGrain"/>s, detect, diagnose each finding in an <see cref="IDiagnosisGrain"/>,
/// and build the report. Same result as <c>Pipeline.Compare</c>.
/// Progress is persisted after every step, so a job whose silo is lost resumes on another silo at its next call
/// (a client polling <see cref="Wait"/> makes that call) and does not redo finished steps.
/// </summary>
[Alias("Magneton.IMatchingJobGrain")]
public interface IMatchingJobGrain : IGrainWithStringKey
{
    /// <summary>
    /// Starts the job (idempotent: the same request again returns its status, and takes up a job that stopped on a
    /// transient problem, a lost run or a cancel). A comparison of stored runs runs only under its own id
    /// (<see cref="WorkIds.Job"/>): a request under another id is refused, so nobody can occupy another's job.
    /// </summary>
    [RequiresRole(ClusterRoles.Submit)] [Alias("Start")] Task<JobStatus> Start(CompareRequest request);

    /// <summary>The status once the job has finished, or after <paramref name="maxWait"/>, whichever comes first.</summary>
    [RequiresRole(ClusterRoles.Read)] [Alias("Wait")] Task<JobStatus> Wait(TimeSpan maxWait);

    [RequiresRole(ClusterRoles.Read)] [Alias("GetStatus")] Task<JobStatus> GetStatus();

    /// <summary>Stops the job's work at the next step (its client went away with --cancel); progress is kept and a new Start resumes it.</summary>
    [RequiresRole(ClusterRoles.Submit)] [Alias("Cancel")] Task<JobStatus> Cancel();

    /// <summary>
    /// The report of a finished job; a failed job throws its <see cref="MagnetonInputException"/>. Long: at 100k
    /// operators a side the report is ~30 MB to serialize and send, which took over the clients' 15 s on a loaded box.
    /// Immutable, as <see cref="Compare"/>'s: a caller on the job's silo (a campaign) gets the records, not a copy.
    /// </summary>
    [RequiresRole(ClusterRoles.Read)] [Alias("GetReport"), ResponseTimeout("00:05:00")] Task<Immutable<ComparisonReport>> GetReport();

    /// <summary>
    /// The report of a finished job as JSON: <paramref name="maxBytes"/> from <paramref name="offset"/> (0 to the
    /// length), <see cref="ReportChunk.MaxBytes"/> at the most; what clients fetch (<see cref="GetReport"/> is for grains: campaigns of sample-sized jobs).
    /// Fails as <see cref="GetReport"/> does. The first slice of a report read from the store waits for the read.
    /// </summary>
    [RequiresRole(ClusterRoles.Read)] [Alias("GetReportJson"), ResponseTimeout("00:05:00")] Task<ReportChunk> GetReportJson(long offset, int maxBytes = ReportChunk.MaxBytes);

    /// <summary>
    /// Start, wait and report in one call (the embedded CLI, where the silo cannot be lost on its own). Cancelling
    /// <paramref name="cancellationToken"/> cancels the job's work, as <see cref="Cancel"/> does. The report is
    /// <see cref="Immutable{T}"/>: a caller in the silo's process gets the job's own records instead of a deep copy
    /// (for 100k operators a side, a copy through JSON of 4.5 s); a remote caller gets it serialized as usual.
    /// </summary>
    [RequiresRole(ClusterRoles.Submit)] [Alias("Compare"), ResponseTimeout("00:30:00")]
    Task<Immutable<ComparisonReport>> Compare(CompareRequest request, CancellationToken cancellationToken = default);
}
