using System.Text;
using Magneton.Core.Bundles;
using Magneton.GpuWorker.Capture;
using Magneton.Grains;
using Microsoft.Extensions.Logging;

namespace Magneton.Client;

/// <summary>What a worker process shares between its GPUs.</summary>
public sealed record CaptureWorkerOptions
{
    /// <summary>The node name jobs are addressed to (<c>magneton submit --node</c>).</summary>
    public required string Node { get; init; }
    /// <summary>Where captures run (their current directory) and where their bundles are written before upload.</summary>
    public required string WorkDir { get; init; }
    /// <summary>How often the worker beats; well under the scheduler's worker timeout (15 s by default).</summary>
    public TimeSpan Heartbeat { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Keep each uploaded bundle in the work directory (by default only failed captures are kept, to debug).</summary>
    public bool KeepBundles { get; init; }
    public string? Python { get; init; }
    public string? ProbePath { get; init; }
    /// <summary>What this node runs: its workload file's workloads, and any command only with --allow-any-command.</summary>
    public required JobPolicy Policy { get; init; }
}

/// <summary>One GPU of the node as a worker sees it: what it tells the scheduler, and how to sample its energy.</summary>
public sealed record WorkerSlot(WorkerGpu Gpu, CaptureRunner.NodeInfo Node, Func<ICaptureSampler> NewSampler);

/// <summary>The outcome counts of one worker's life, printed when the worker stops.</summary>
public sealed record WorkerTotals(int Done, int Failed, int Released);

/// <summary>
/// A GPU worker for one GPU: beats to the cluster's <see cref="ICaptureSchedulerGrain"/> ("default"), and when a
/// beat hands it a capture job, runs it as <c>magneton capture</c> would (probe around the command, NVML sampled for
/// the whole run, bundle checked by Core's reader), uploads the bundle and reports the run id. The probe's last
/// output line is reported as the job's progress. Stopping (the token) kills a running capture and hands the job
/// back to the queue. A cluster that does not answer is retried at every beat; the scheduler requeues the job of a
/// worker it has not heard from, so neither side waits for the other for ever.
/// </summary>
public sealed class CaptureWorker(IClusterClient client, WorkerSlot slot, CaptureWorkerOptions options, TextWriter output, ILogger log)
{
    public const string Scheduler = "default";

    readonly ICaptureSchedulerGrain _scheduler = client.GetGrain<ICaptureSchedulerGrain>(Scheduler);
    readonly ProbeOutput _probeOutput = new(output);
    int _done, _failed, _released;

    public string WorkerId { get; } = $"{options.Node}/gpu{slot.Gpu.Index}";

    public async Task<WorkerTotals> RunAsync(CancellationToken stop)
    {
        CaptureAssignment? job = null;
        Task? running = null;
        using var jobStop = new CancellationTokenSource();
        string? reported = null;
        bool unreachable = false;

        while (!stop.IsCancellationRequested)
        {
            if (running is { IsCompleted: true })
            {
                await running.ConfigureAwait(false); // RunJobAsync handles its own failures
                (job, running, reported) = (null, null, null);
            }

            CaptureAssignment? next = null;
            try
            {
                next = await _scheduler.Heartbeat(new WorkerInfo(WorkerId, options.Node, [slot.Gpu], job?.Job.JobId)).ConfigureAwait(false);
                if (job is not null && _probeOutput.Latest is { } line && line != reported)
                {
                    await _scheduler.Progress(job.Job.JobId, job.Token, line).ConfigureAwait(false);
                    reported = line;
                }
                if (unreachable) log.LogInformation("{Worker}: the cluster answers again", WorkerId);
                unreachable = false;
            }
            catch (Exception e) when (Transient.Is(e))
            {
                if (!unreachable) log.LogWarning("{Worker}: the cluster does not answer ({Error}); retrying every beat", WorkerId, Program.OneLine(e.Message));
                unreachable = true;
            }

            if (next is not null && running is null)
            {
                job = next;
                _probeOutput.Reset();
                running = RunJobAsync(next, jobStop.Token);
            }
            try
            {
                // A finished capture is reported at once rather than at the next beat.
                await Task.WhenAny(Task.Delay(options.Heartbeat, stop), running ?? Task.Delay(Timeout.Infinite, stop)).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        if (running is not null)
        {
            await jobStop.CancelAsync().ConfigureAwait(false);
            await running.ConfigureAwait(false);
        }
        return new WorkerTotals(_done, _failed, _released);
    }

    async Task RunJobAsync(CaptureAssignment assignment, CancellationToken stop)
    {
        var (job, token) = (assignment.Job, assignment.Token);
        if (await AdmitAsync(job, token).ConfigureAwait(false) is not { } allowed) return;
        var spec = job.Spec;
        var outDir = Path.Combine(options.WorkDir, "captures", $"{job.JobId}-{job.Attempts}");
        // The command line is logged by name only: its arguments are the submitter's and may hold secrets.
        log.LogInformation("{Worker}: {Job} (attempt {Attempt}) system={System}: {What}",
            WorkerId, job.JobId, job.Attempts, spec.System, spec.Workload is { } w ? "workload " + w : "command " + spec.Command[0]);
        bool uploaded = false;
        if (Directory.Exists(outDir)) TryDelete(outDir); // left by this node's worker before a crash: not a result
        try
        {
            var (result, run) = await CaptureAndUploadAsync(CaptureOptionsFor(spec, allowed, outDir), stop).ConfigureAwait(false);
            uploaded = true;
            await Transient.RetryAsync(() => _scheduler.Complete(job.JobId, token, run.RunId), log, $"{job.JobId}: reporting run {run.RunId}")
                .ConfigureAwait(false);
            Interlocked.Increment(ref _done);
            log.LogInformation("{Worker}: {Job} done: run {Run} ({Operators} operators, {Replay} replay items, {Samples} NVML samples)",
                WorkerId, job.JobId, run.RunId, result.Operators, result.ReplayItems, result.Samples);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Interlocked.Increment(ref _released);
            log.LogInformation("{Worker}: {Job}: worker stopping; the capture was stopped and the job handed back", WorkerId, job.JobId);
            TryDelete(outDir); // half a capture; the job runs again from the start
            await ReportAsync(() => _scheduler.Release(job.JobId, token, $"worker {WorkerId} stopped"), job).ConfigureAwait(false);
        }
        catch (Exception e) when (!ClusterTrouble(e))
        {
            // The capture itself failed (the command, the probe, the bundle): the job fails with the reason. Its
            // directory (samples, the probe's partial output) stays for whoever debugs it.
            Interlocked.Increment(ref _failed);
            string reason = FailureReason(e, _probeOutput.LastError);
            log.LogWarning("{Worker}: {Job} failed: {Reason} (kept in {Dir})", WorkerId, job.JobId, reason, outDir);
            await ReportAsync(() => _scheduler.Fail(job.JobId, token, reason), job).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // The cluster went away mid-job: the beat that follows says this worker no longer runs the job, so the
            // scheduler queues it again (uploads are idempotent: a re-run of the same files is the same run).
            log.LogWarning("{Worker}: {Job}: could not reach the cluster to finish it ({Error}); it will be queued again",
                WorkerId, job.JobId, Program.OneLine(e.Message));
        }
        finally
        {
            if (uploaded && !options.KeepBundles) TryDelete(outDir);
        }
    }

    /// <summary>What this node allows the job to run, or null when it refused the job (and reported why).</summary>
    async Task<AllowedJob?> AdmitAsync(CaptureJob job, string token)
    {
        var spec = job.Spec;
        try
        {
            CheckProbeArguments(spec.ProbeArguments ?? []);
            return options.Policy.Resolve(spec.Workload, spec.Arguments ?? [], spec.Command);
        }
        catch (JobRefusedException e)
        {
            // Refused before anything starts: the submitter reads why in the job's error.
            Interlocked.Increment(ref _failed);
            log.LogWarning("{Worker}: {Job} refused: {Reason}", WorkerId, job.JobId, e.Message);
            await ReportAsync(() => _scheduler.Fail(job.JobId, token, $"refused by {WorkerId}: {e.Message}"), job).ConfigureAwait(false);
            return null;
        }
    }

    /// <summary>The capture as <c>magneton capture</c> would run it, on this worker's GPU only, in the environment the node allows.</summary>
    CaptureOptions CaptureOptionsFor(CaptureSpec spec, AllowedJob allowed, string outDir)
    {
        var environment = new Dictionary<string, string>(allowed.Environment);
        foreach (var (name, value) in ProbeLauncher.PinToGpu(slot.Gpu.Uuid)) environment[name] = value;
        return new CaptureOptions
        {
            System = spec.System,
            OutDir = outDir,
            Command = allowed.Command,
            ProbeArguments = spec.ProbeArguments ?? [],
            Python = options.Python,
            ProbePath = options.ProbePath,
            Gpu = slot.Gpu.Index,
            Device = allowed.Device,
            WorkingDirectory = allowed.WorkingDirectory ?? options.WorkDir,
            Environment = environment,
            InheritEnvironment = false,
        };
    }

    /// <summary>Runs the capture under NVML sampling, checks its bundle with Core's reader and uploads it.</summary>
    async Task<(CaptureResult Result, RunRef Run)> CaptureAndUploadAsync(CaptureOptions capture, CancellationToken stop)
    {
        CaptureResult result;
        using (var sampler = slot.NewSampler())
            result = await new CaptureRunner(_probeOutput.Out, _probeOutput.Err).RunAsync(capture, sampler, slot.Node, stop).ConfigureAwait(false);
        _probeOutput.Latest = $"uploading {result.Operators} operators, {result.ReplayItems} replay items";

        var checkedBundle = await BundleUploader.CheckAsync(capture.OutDir, stop).ConfigureAwait(false);
        var run = await new BundleUploader(client, output).ResolveAsync(capture.OutDir, checkedBundle, stop).ConfigureAwait(false);
        return (result, run);
    }

    /// <summary>The job's error as the submitter reads it: one line; the type named only where the message alone is not ours.</summary>
    static string FailureReason(Exception e, string? lastError)
    {
        string reason = e is CaptureException or BundleException or UsageException or MagnetonInputException
            ? Program.OneLine(e.Message)
            : $"{e.GetType().Name}: {Program.OneLine(e.Message)}";
        // "see its messages above" is on the node; the submitter sees the last of them here.
        if (e is CaptureException && lastError is { } last) reason += $"; last error output: {last}";
        return reason;
    }

    /// <summary>The probe options of a job: only those <c>magneton submit</c> takes (never --out, say), with valid values.</summary>
    static void CheckProbeArguments(string[] probeArguments)
    {
        try
        {
            ProbeOptionSet.Check(probeArguments);
        }
        catch (UsageException e)
        {
            throw new JobRefusedException("probe options of the job: " + e.Message);
        }
    }

    /// <summary>The cluster, not the capture, failed: Orleans could not deliver a call (a local I/O error is the capture's).</summary>
    static bool ClusterTrouble(Exception e) => Transient.Is(e) && e is not IOException;

    async Task ReportAsync(Func<Task<CaptureJob>> call, CaptureJob job)
    {
        try
        {
            await Transient.RetryAsync(call, log, $"{job.JobId}: reporting its outcome", attempts: 4).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            log.LogWarning("{Worker}: {Job}: outcome not reported ({Error})", WorkerId, job.JobId, Program.OneLine(e.Message));
        }
    }

    void TryDelete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("{Worker}: could not delete {Dir}: {Error}", WorkerId, dir, e.Message);
        }
    }

    /// <summary>
    /// Passes the probe's output through and remembers its latest line (the job's progress) and the latest line of
    /// its stderr (where the probe logs and Python prints a traceback's last words: a failure's reason).
    /// </summary>
    sealed class ProbeOutput
    {
        volatile string? _latest, _lastError;

        public ProbeOutput(TextWriter inner)
        {
            Out = new Lines(inner, line => _latest = line);
            Err = new Lines(inner, line => _latest = _lastError = line);
        }

        public TextWriter Out { get; }
        public TextWriter Err { get; }
        public string? Latest { get => _latest; set => _latest = value; }
        public string? LastError => _lastError;

        public void Reset() => _latest = _lastError = null;

        sealed class Lines(TextWriter inner, Action<string> seen) : TextWriter
        {
            public override Encoding Encoding => inner.Encoding;
            public override void Write(char value) => inner.Write(value);
            public override void Flush() => inner.Flush();

            public override void WriteLine(string? value)
            {
                lock (inner) inner.WriteLine(value);
                if (!string.IsNullOrWhiteSpace(value)) seen(value.Length > 300 ? value[..300] : value);
            }
        }
    }
}
