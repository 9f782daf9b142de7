using Magneton.Core;
using Magneton.Core.Matching;
using Orleans.Concurrency;

namespace Magneton.Grains;

/// <summary>
/// Matches a run of consecutive top-level segments of one job (key: "jobId/workerIndex"; a job has at most
/// <c>MatchingJobOptions.SegmentWorkers</c> of them, one segment each when it has no more segments than that). It is
/// sent the segments' indices, not their operators: session preparation is deterministic, so the silo's own session
/// (cached per silo, prepared from the runs when the silo has not seen them) holds the same segments. Its result is
/// persisted once, by this grain, so a job that resumes elsewhere reads it back instead of matching again. Pure:
/// calling it again gives the same regions.
/// </summary>
[Alias("Magneton.ISegmentMatcherGrain")]
public interface ISegmentMatcherGrain : IGrainWithStringKey
{
    /// <summary>
    /// The regions of segments <paramref name="first"/> .. first + count - 1: matched now, or the result stored by an
    /// earlier call. Immutable: a worker on the job's own silo hands the array over rather than having Orleans copy it
    /// (Core's records copy through JSON; at 100k operators a side that was a good part of the match step). Neither
    /// side changes it.
    /// </summary>
    [Alias("Match"), ResponseTimeout("00:30:00")]
    Task<Immutable<RegionMatch[]>> Match(RunRef a, RunRef b, CompareOptions options, int first, int count, CancellationToken cancellationToken = default);

    /// <summary>
    /// The stored result of an earlier <see cref="Match"/> of exactly these segments, or null (never matched, the
    /// store lost it, or it matched other segments: the job's worker count changed between silo starts).
    /// </summary>
    [Alias("Stored"), ResponseTimeout("00:02:00")]
    Task<Immutable<RegionMatch[]?>> Stored(int first, int count);

    /// <summary>Drops the stored result (the job's report exists).</summary>
    [Alias("Forget")]
    Task Forget();
}
