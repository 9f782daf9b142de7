namespace Magneton.Grains;

/// <summary>Settings of the comparison job grains on a silo.</summary>
public sealed class MatchingJobOptions
{
    public const int DefaultLocalAboveOperators = 50_000;

    /// <summary>
    /// A comparison with more operators than this on either side has its segments matched and its findings
    /// diagnosed on the job's own silo, which holds the prepared session; smaller ones go to silos at random. A silo
    /// that has not seen the runs reads and prepares both before it matches (at 1M operators a side that is ~15 s of
    /// two cores and ~3 GB), while the segments of such a job take a few seconds in all: spreading them costs more
    /// than it saves.
    /// </summary>
    public int LocalAboveOperators { get; set; } = DefaultLocalAboveOperators;

    public const int DefaultSegmentWorkers = 64;

    /// <summary>
    /// The most segment worker grains one job uses: a job of more segments gives each worker a run of consecutive
    /// segments. A worker's call, its activation and its stored result cost the same for one small segment as for
    /// fifty (at 100k operators a side a job has ~2,700 segments of ~40 operators: one grain and one durable write
    /// each took four times as long as the matching itself), while a few dozen workers still spread over the cluster.
    /// </summary>
    public int SegmentWorkers { get; set; } = DefaultSegmentWorkers;
}
