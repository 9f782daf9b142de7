using Magneton.Core;
using Magneton.Core.Matching;

namespace Magneton.Grains;

/// <summary>
/// Matches one top-level segment of one job (key: "jobId/segmentIndex"). It is sent the segment's index, not its
/// operators: session preparation is deterministic, so the silo's own session (cached per silo, prepared from the
/// runs when the silo has not seen them) holds the same segment. Its result is persisted once, by this grain, so a
/// job that resumes elsewhere reads it back instead of matching again. Pure: calling it again gives the same regions.
/// </summary>
[Alias("Magneton.ISegmentMatcherGrain")]
public interface ISegmentMatcherGrain : IGrainWithStringKey
{
    /// <summary>The segment's regions: matched now, or the result stored by an earlier call.</summary>
    [Alias("Match"), ResponseTimeout("00:30:00")]
    Task<RegionMatch[]> Match(RunRef a, RunRef b, CompareOptions options, int segment, CancellationToken cancellationToken = default);

    /// <summary>The stored result of an earlier <see cref="Match"/>, or null (never matched, or the store lost it).</summary>
    [Alias("Stored"), ResponseTimeout("00:02:00")]
    Task<RegionMatch[]?> Stored();

    /// <summary>Drops the stored result (the job's report exists).</summary>
    [Alias("Forget")]
    Task Forget();
}
