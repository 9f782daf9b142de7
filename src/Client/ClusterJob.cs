using Magneton.Core.Reporting;
using Magneton.Grains;

namespace Magneton.Client;

/// <summary>
/// A comparison on a running cluster: upload (or name) both runs, start the job, poll it to the end and fetch
/// the report. Polling is what carries a job through the loss of a silo: a poll that fails is retried, and the
/// retry reactivates the job grain on a surviving silo, which resumes from its persisted progress.
/// </summary>
public static class ClusterJob
{
    /// <summary>How long polls may keep failing in a row before the client gives up.</summary>
    public static TimeSpan UnreachableFor { get; set; } = TimeSpan.FromMinutes(2);

    public static async Task<ComparisonReport> CompareAsync(ClusterTarget cluster, string bundleA, string bundleB, double threshold,
        TextWriter log, CancellationToken ct, Action<JobStatus>? onStatus = null)
    {
        // Bad input is refused here, before any connection: nothing malformed or oversized reaches a grain.
        var checkedA = await BundleUploader.CheckAsync(bundleA, ct).ConfigureAwait(false);
        var checkedB = await BundleUploader.CheckAsync(bundleB, ct).ConfigureAwait(false);
        await using var connection = await ClusterConnection.ConnectAsync(cluster, ct).ConfigureAwait(false);
        var uploader = new BundleUploader(connection.Client, log);
        var a = await uploader.ResolveAsync(bundleA, checkedA, ct).ConfigureAwait(false);
        var b = await uploader.ResolveAsync(bundleB, checkedB, ct).ConfigureAwait(false);
        var request = new CompareRequest(a, b, threshold);
        return await RunAsync(connection.Client, request, log, ct, onStatus).ConfigureAwait(false);
    }

    /// <param name="onStatus">called after each poll (a live progress display); polls are then more frequent</param>
    public static async Task<ComparisonReport> RunAsync(IClusterClient client, CompareRequest request, TextWriter log, CancellationToken ct,
        Action<JobStatus>? onStatus = null)
    {
        var job = client.GetGrain<IMatchingJobGrain>(WorkIds.Job(request));
        var status = await Retrying(() => job.Start(request), ct).ConfigureAwait(false);
        var poll = TimeSpan.FromSeconds(onStatus is null ? 2 : 0.5);
        onStatus?.Invoke(status);
        while (!status.Finished)
        {
            status = await Retrying(() => job.Wait(poll), ct).ConfigureAwait(false);
            onStatus?.Invoke(status);
        }
        if (status.Resumes > 0)
            await log.WriteLineAsync($"{status.JobId}: resumed {status.Resumes} time(s) after losing a silo").ConfigureAwait(false);
        return await Retrying(() => job.GetReport(), ct).ConfigureAwait(false);
    }

    internal static async Task<T> Retrying<T>(Func<Task<T>> call, CancellationToken ct)
    {
        var firstFailure = (DateTime?)null;
        while (true)
        {
            try
            {
                return await call().ConfigureAwait(false);
            }
            catch (Exception e) when (Transient.Is(e) && !ct.IsCancellationRequested)
            {
                firstFailure ??= DateTime.UtcNow;
                if (DateTime.UtcNow - firstFailure > UnreachableFor) throw;
                await Task.Delay(500, ct).ConfigureAwait(false);
            }
        }
    }
}
