using Magneton.Grains;

namespace Magneton.Client;

/// <summary>
/// Follows capture jobs to their end for <c>submit --wait</c> and the fleet captures of <c>audit</c>/<c>campaign
/// --capture</c>: every <see cref="Interval"/> each unfinished job is read again, and its line is written whenever it
/// changed.
/// </summary>
internal static class CaptureJobWatch
{
    /// <summary>Often enough for a person watching, cheap for the scheduler grain (one short call per job).</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);

    public static bool Finished(CaptureJob job) => job.State is CaptureState.Done or CaptureState.Failed;

    /// <summary>An unfinished job's state, its worker and its latest progress: "running on node/gpu0: step 3".</summary>
    public static string StateText(CaptureJob job)
    {
        var state = job.State.ToString().ToLowerInvariant();
        return $"{state}{(job.Worker is null ? "" : " on " + job.Worker)}{(job.Progress == state ? "" : ": " + job.Progress)}";
    }

    /// <param name="read">the job as the scheduler has it now (the caller's retries and overrides included)</param>
    /// <param name="line">the job's progress line, or null to write nothing for it this time</param>
    /// <param name="beforeRound">run once per round before the jobs are read (what every read of the round shares)</param>
    /// <returns>the jobs in the order given, each finished</returns>
    public static async Task<CaptureJob[]> FollowAsync(IReadOnlyList<CaptureJob> jobs,
        Func<CaptureJob, CancellationToken, Task<CaptureJob>> read, Func<CaptureJob, string?> line, TextWriter progress,
        CancellationToken ct, Func<CancellationToken, Task>? beforeRound = null)
    {
        var current = jobs.ToArray();
        var shown = new string?[current.Length];
        while (current.Any(j => !Finished(j)))
        {
            await Task.Delay(Interval, ct).ConfigureAwait(false);
            if (beforeRound is not null) await beforeRound(ct).ConfigureAwait(false);
            for (int i = 0; i < current.Length; i++)
            {
                if (Finished(current[i])) continue;
                current[i] = await read(current[i], ct).ConfigureAwait(false);
                var text = line(current[i]);
                if (text is not null && text != shown[i]) await progress.WriteLineAsync(text).ConfigureAwait(false);
                shown[i] = text;
            }
        }
        return current;
    }
}
