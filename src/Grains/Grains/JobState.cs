using Magneton.Core.Reporting;

namespace Magneton.Grains;

/// <summary>A job's persisted progress: enough to resume on another silo without redoing finished steps.</summary>
[GenerateSerializer, Alias("Magneton.JobState")]
public sealed class JobState
{
    [Id(0)] public CompareRequest? Request { get; set; }
    [Id(1)] public JobPhase Phase { get; set; }
    [Id(2)] public int SegmentsTotal { get; set; }
    /// <summary>
    /// Segments whose regions their worker grains stored (<see cref="SegmentState"/>), by segment index: a job that
    /// resumes reads those workers' results back instead of matching again. Dropped once the report exists.
    /// </summary>
    [Id(11)] public HashSet<int> SegmentsDone { get; set; } = [];
    [Id(4)] public int FindingsTotal { get; set; }
    /// <summary>Cause of each diagnosed finding, by finding index. Dropped once the report exists.</summary>
    [Id(5)] public Dictionary<int, CauseReport> Causes { get; set; } = [];
    /// <summary>The report, where the silo has no bundle store; with one it is kept there only (<see cref="ReportInStore"/>).</summary>
    [Id(6)] public ComparisonReport? Report { get; set; }
    /// <summary>The report is in the bundle store under the job's id: not written into this state a second time.</summary>
    [Id(12)] public bool ReportInStore { get; set; }
    [Id(7)] public string? Error { get; set; }
    /// <summary>Activations that found the job unfinished and took it up again.</summary>
    [Id(8)] public int Resumes { get; set; }
    /// <summary>The job span's W3C id, so a resumed job's spans join the same trace.</summary>
    [Id(9)] public string? TraceParent { get; set; }
    [Id(10)] public DateTimeOffset StartedAt { get; set; }
    /// <summary>The build that computed the progress (<see cref="WorkIds.CodeVersion"/>); another build starts over.</summary>
    [Id(20)] public string? Code { get; set; }
}
