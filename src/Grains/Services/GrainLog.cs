using Microsoft.Extensions.Logging;

namespace Magneton.Grains;

/// <summary>
/// The grains' frequent log lines, source-generated: a retry or a progress write happens per segment or per poll,
/// and these neither box their arguments nor format them when the level is off.
/// </summary>
internal static partial class GrainLog
{
    [LoggerMessage(1, LogLevel.Warning, "{What} failed ({Error}); retry {Attempt} in {DelayMs} ms")]
    public static partial void Retrying(ILogger log, string what, string error, int attempt, double delayMs);

    [LoggerMessage(2, LogLevel.Warning, "{Owner}: saving progress failed")]
    public static partial void ProgressNotSaved(ILogger log, Exception error, string owner);

    [LoggerMessage(3, LogLevel.Warning, "{Owner}: the store lost or reverted the saved progress ({Error}); writing it again")]
    public static partial void ProgressLost(ILogger log, string owner, string error);

    [LoggerMessage(4, LogLevel.Warning, "segment {Segment}: its regions were not stored ({Error}); a resumed job matches it again")]
    public static partial void SegmentNotStored(ILogger log, string segment, string error);

    [LoggerMessage(5, LogLevel.Information, "job {Job} was computed by another build; it starts over")]
    public static partial void JobStartsOver(ILogger log, string job);

    [LoggerMessage(6, LogLevel.Information, "job {Job} resumes in phase {Phase} with {Segments}/{Total} segments matched")]
    public static partial void JobResumes(ILogger log, string job, JobPhase phase, int segments, int total);

    [LoggerMessage(7, LogLevel.Information, "job {Job} cancelled by its client")]
    public static partial void JobCancelled(ILogger log, string job);

    [LoggerMessage(8, LogLevel.Warning, "job {Job} waits for run {Run}: {Problem}")]
    public static partial void JobWaitsForRun(ILogger log, string job, string run, string problem);

    [LoggerMessage(9, LogLevel.Warning, "job {Job} stopped in phase {Phase}; the next call resumes it")]
    public static partial void JobStopped(ILogger log, Exception error, string job, JobPhase phase);

    [LoggerMessage(10, LogLevel.Warning, "job {Job}: {Missing} stored segment result(s) were lost; matching them again")]
    public static partial void SegmentsLost(ILogger log, string job, int missing);

    [LoggerMessage(11, LogLevel.Warning, "job {Job}: stored segment results not dropped ({Error})")]
    public static partial void SegmentsNotForgotten(ILogger log, string job, string error);

    [LoggerMessage(12, LogLevel.Information, "capture {Job} assigned to worker {Worker} on {Node} (attempt {Attempt})")]
    public static partial void CaptureAssigned(ILogger log, string job, string worker, string node, int attempt);

    [LoggerMessage(13, LogLevel.Information, "job {Job} done in {TotalMs:F0} ms ({Operators} operators a side, {Segments} segments): {Phases}")]
    public static partial void JobDone(ILogger log, string job, double totalMs, int operators, int segments, string phases);
}
