using System.Diagnostics;
using Magneton.Core.Scaling;
using Magneton.Grains;
using Orleans.Runtime.Placement;

namespace Magneton.Client;

/// <summary>What <c>magneton bench --cluster</c> measured besides the embedded bench's fields.</summary>
internal sealed record ClusterBenchResult(BenchResult Bench, IReadOnlyList<SiloMemory> Silos, double? UploadMs);

/// <summary>
/// <c>magneton bench --cluster</c>: the generated pair compared through a running cluster, timed from the job's start
/// to its report in this client, with each silo's peak resident memory over the job (peak marks reset before it).
/// The bundles are named by path (the silos must allow the directory: <c>magneton silo --allow-path</c>), or uploaded
/// first with <c>--upload</c> (timed apart). The trace reader's speed is measured here, as the embedded bench does.
/// </summary>
internal static class ClusterBench
{
    /// <param name="warmUp">a small pair in a directory the silos read, compared once on each silo before the measured job</param>
    public static async Task<ClusterBenchResult> MeasureAsync(ClusterTarget cluster, ScaledPair pair, double generateMs, bool upload,
        (string A, string B) warmUp, PythonMeasure python, Action<string> log, CancellationToken ct)
    {
        var trace = ScalingBenchmark.MeasureTraceReader(pair, log);
        await using var connection = await ClusterConnection.ConnectAsync(cluster, ct).ConfigureAwait(false);
        // Through the connection each time: a call that times out while a silo is busy reconnects it (a new client).
        var silos = (await connection.CallAsync(c => c.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true), ct).ConfigureAwait(false)).Keys.ToList();
        await WarmUpAsync(connection, silos, warmUp, log, ct).ConfigureAwait(false);
        foreach (var silo in silos) await MemoryOfAsync(connection, silo, resetPeak: true, ct).ConfigureAwait(false);

        double? uploadMs = null;
        RunRef a, b;
        var sw = Stopwatch.StartNew();
        if (upload)
        {
            var uploader = new BundleUploader(connection, new LogWriter(log));
            a = await uploader.ResolveAsync(pair.A.Directory, ct).ConfigureAwait(false);
            b = await uploader.ResolveAsync(pair.B.Directory, ct).ConfigureAwait(false);
            uploadMs = sw.Elapsed.TotalMilliseconds;
            log($"upload: {uploadMs / 1000:F1} s");
        }
        else
        {
            a = RunRef.Local(pair.A.Directory);
            b = RunRef.Local(pair.B.Directory);
        }

        sw.Restart();
        var report = await ClusterJob.RunAsync(connection, new CompareRequest(a, b), new LogWriter(log), ct).ConfigureAwait(false);
        double compareMs = sw.Elapsed.TotalMilliseconds;
        var summaries = await connection.CallAsync(c => Task.WhenAll(c.GetGrain<IRunGrain>(a.RunId).GetSummary(), c.GetGrain<IRunGrain>(b.RunId).GetSummary()), ct)
            .ConfigureAwait(false);
        var memory = new List<SiloMemory>();
        foreach (var silo in silos) memory.Add(await MemoryOfAsync(connection, silo, resetPeak: false, ct).ConfigureAwait(false));
        log($"compare through {silos.Count} silo(s): {compareMs / 1000:F1} s; peak " +
            string.Join(", ", memory.Select(m => $"{m.Silo} {m.PeakMb:F0} MiB")));

        var comparison = new ComparisonMeasure(summaries.Max(s => s.IngestMs), report.Matching.ElapsedMs, compareMs,
            memory.Max(m => m.PeakMb), new Dictionary<string, double>());
        var result = ScalingBenchmark.Result(pair, generateMs, trace, comparison, ScalingBenchmark.Outcome(pair, report), python);
        return new ClusterBenchResult(result, memory, uploadMs);
    }

    /// <summary>
    /// Compares the small pair once on each silo (the job placed there by a placement hint), so that the measured job
    /// runs JIT-compiled code as the embedded bench does after its own warm-up: a cold silo's first ingest and match
    /// run tier-0 code, seconds of the 100k figure that a silo serving jobs does not pay. A local-path request gets a
    /// job id of its own each time, so the warm-ups do not answer each other from a stored report.
    /// </summary>
    static async Task WarmUpAsync(ClusterConnection connection, IReadOnlyList<SiloAddress> silos, (string A, string B) pair,
        Action<string> log, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            foreach (var silo in silos)
            {
                RequestContext.Set(IPlacementDirector.PlacementHintKey, silo);
                try
                {
                    await ClusterJob.RunAsync(connection, CompareRequest.ForPaths(pair.A, pair.B), TextWriter.Null, ct).ConfigureAwait(false);
                }
                finally
                {
                    RequestContext.Remove(IPlacementDirector.PlacementHintKey);
                }
            }
            log($"warm-up: the sample pair compared on each of {silos.Count} silo(s) in {sw.Elapsed.TotalSeconds:F1} s");
        }
        catch (MagnetonInputException e)
        {
            // Silos that read no local path (started without --allow-path for it): the figures are then cold.
            log($"warm-up skipped, the figures below are of cold silos: {Program.OneLine(e.Message)}");
        }
    }

    /// <summary>The memory of one silo, through a grain placed there by a placement hint.</summary>
    static async Task<SiloMemory> MemoryOfAsync(ClusterConnection connection, SiloAddress silo, bool resetPeak, CancellationToken ct)
    {
        RequestContext.Set(IPlacementDirector.PlacementHintKey, silo);
        try
        {
            var memory = await connection.CallAsync(c => c.GetGrain<ISiloMemoryGrain>(silo.ToString()).Measure(resetPeak), ct).ConfigureAwait(false);
            return memory.Silo == silo.ToString() ? memory
                : throw new InvalidOperationException($"bench: the memory of silo {silo} was measured on {memory.Silo}");
        }
        finally
        {
            RequestContext.Remove(IPlacementDirector.PlacementHintKey);
        }
    }

    /// <summary>The job's progress lines (lost runs, resumes) into the bench's log.</summary>
    sealed class LogWriter(Action<string> log) : StringWriter
    {
        public override void WriteLine(string? value) => log(value ?? "");
        public override Task WriteLineAsync(string? value)
        {
            log(value ?? "");
            return Task.CompletedTask;
        }
    }
}
