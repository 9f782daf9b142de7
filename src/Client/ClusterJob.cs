using System.Text.Json;
using Magneton.Core.Reporting;
using Magneton.Grains;

namespace Magneton.Client;

/// <summary>
/// A comparison on a running cluster: upload (or name) both runs, start the job, poll it to the end and fetch
/// the report. Polling is what carries a job through the loss of a silo: a poll that fails is retried (see
/// <see cref="ClusterConnection.CallAsync"/>), and the retry reactivates the job grain on a surviving silo, which
/// resumes from its persisted progress. A job that waits for a run its store lost gets the bundle again from
/// this client when it holds it.
/// </summary>
public static class ClusterJob
{
    public static async Task<ComparisonReport> CompareAsync(ClusterTarget cluster, string bundleA, string bundleB, double threshold,
        TextWriter log, CancellationToken ct, Action<JobStatus>? onStatus = null, bool cancelOnStop = false)
    {
        // Bad input is refused here, before any connection: nothing malformed or oversized reaches a grain.
        var checkedA = await BundleUploader.CheckAsync(bundleA, ct).ConfigureAwait(false);
        var checkedB = await BundleUploader.CheckAsync(bundleB, ct).ConfigureAwait(false);
        await using var connection = await ClusterConnection.ConnectAsync(cluster, ct).ConfigureAwait(false);
        var uploader = new BundleUploader(connection, log);
        var a = await uploader.ResolveAsync(bundleA, checkedA, ct).ConfigureAwait(false);
        var b = await uploader.ResolveAsync(bundleB, checkedB, ct).ConfigureAwait(false);
        var request = new CompareRequest(a, b, threshold);
        return await RunAsync(connection, request, log, ct, onStatus, cancelOnStop, uploader.UploadAgain([checkedA, checkedB])).ConfigureAwait(false);
    }

    /// <summary>A comparison through a client this process already has (a test cluster's).</summary>
    public static Task<ComparisonReport> RunAsync(IClusterClient client, CompareRequest request, TextWriter log, CancellationToken ct,
        Action<JobStatus>? onStatus = null) =>
        RunAsync(ClusterConnection.Over(client), request, log, ct, onStatus);

    /// <param name="onStatus">called after each poll (a live progress display); polls are then more frequent</param>
    /// <param name="cancelOnStop">when <paramref name="ct"/> is cancelled (Ctrl-C, --timeout), also cancel the job in the cluster</param>
    /// <param name="uploadAgain">uploads a run the store lost, if this client holds its bundle (false: it does not)</param>
    public static async Task<ComparisonReport> RunAsync(ClusterConnection connection, CompareRequest request, TextWriter log,
        CancellationToken ct, Action<JobStatus>? onStatus = null, bool cancelOnStop = false,
        Func<string, CancellationToken, Task<bool>>? uploadAgain = null)
    {
        var jobId = WorkIds.Job(request);
        IMatchingJobGrain Job(IClusterClient c) => c.GetGrain<IMatchingJobGrain>(jobId);
        try
        {
            var status = await connection.CallAsync(c => Job(c).Start(request), ct).ConfigureAwait(false);
            var poll = TimeSpan.FromSeconds(onStatus is null ? 2 : 0.5);
            var lost = new LostRunUploads(uploadAgain, log);
            DateTime? stuckSince = null;
            onStatus?.Invoke(status);
            while (!status.Finished)
            {
                if (status.MissingRun is { } missing)
                {
                    await lost.UploadAgainAsync(missing, status.Problem, ct).ConfigureAwait(false);
                    status = await connection.CallAsync(c => Job(c).Start(request), ct).ConfigureAwait(false);
                    continue;
                }
                if (status.Phase == JobPhase.New)
                {
                    // The cluster forgot the job (its store lost the job's state and the job was activated anew):
                    // polling would wait for ever; this client holds the request, so it asks again.
                    await log.WriteLineAsync($"{jobId}: the cluster had lost this job; started it again").ConfigureAwait(false);
                    status = await connection.CallAsync(c => Job(c).Start(request), ct).ConfigureAwait(false);
                    continue;
                }
                if (status.Problem is { } problem)
                {
                    // The job stopped for a reason that may pass (storage down); each poll takes it up again.
                    stuckSince ??= DateTime.UtcNow;
                    if (DateTime.UtcNow - stuckSince > connection.UnreachableFor) throw new MagnetonUnavailableException(problem);
                }
                else stuckSince = null;
                status = await connection.CallAsync(c => Job(c).Wait(poll), ct).ConfigureAwait(false);
                onStatus?.Invoke(status);
            }
            if (status.Resumes > 0)
                await log.WriteLineAsync($"{status.JobId}: resumed {status.Resumes} time(s) after losing a silo").ConfigureAwait(false);
            return await DownloadReportAsync(connection, jobId, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancelOnStop && ct.IsCancellationRequested)
        {
            await CancelAsync(connection, jobId, log).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The finished job's report, fetched as JSON in slices (<see cref="IMatchingJobGrain.GetReportJson"/>) and read
    /// here: one message could not carry it at 1M operators, and each slice is retried on its own.
    /// </summary>
    /// <param name="sliceBytes">the slices' size (smaller in tests, to fetch a sample's report in several)</param>
    public static async Task<ComparisonReport> DownloadReportAsync(ClusterConnection connection, string jobId, CancellationToken ct,
        int sliceBytes = ReportChunk.MaxBytes)
    {
        var first = await connection.CallAsync(c => c.GetGrain<IMatchingJobGrain>(jobId).GetReportJson(0, sliceBytes), ct).ConfigureAwait(false);
        if (first.Total > Array.MaxLength)
            throw new MagnetonUnavailableException($"{jobId}: the report is {first.Total} bytes, more than one process can read");
        var json = new byte[first.Total];
        first.Json.CopyTo(json, 0);
        long offset = first.Json.Length;
        while (offset < json.Length)
        {
            long at = offset;
            var chunk = await connection.CallAsync(c => c.GetGrain<IMatchingJobGrain>(jobId).GetReportJson(at, sliceBytes), ct).ConfigureAwait(false);
            // A job computed again between two slices (its store lost the report) may give another length.
            if (chunk.Total != json.Length || chunk.Json.Length == 0)
                throw new MagnetonUnavailableException($"{jobId}: the report changed while it was fetched; fetch it again");
            chunk.Json.CopyTo(json, at);
            offset += chunk.Json.Length;
        }
        return await Task.Run(() => JsonSerializer.Deserialize<ComparisonReport>(json, ReportJson.Options)!, ct).ConfigureAwait(false);
    }

    /// <summary>Asks the cluster to stop the job; gives up after a second (the client is ending).</summary>
    static async Task CancelAsync(ClusterConnection connection, string jobId, TextWriter log)
    {
        try
        {
            await connection.Client.GetGrain<IMatchingJobGrain>(jobId).Cancel().WaitAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            await log.WriteLineAsync($"{jobId}: cancelled in the cluster").ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException || Transient.Is(e))
        {
            await log.WriteLineAsync($"{jobId}: could not cancel it in the cluster ({Program.OneLine(e.Message)})").ConfigureAwait(false);
        }
    }
}
