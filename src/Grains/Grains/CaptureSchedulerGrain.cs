using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Magneton.Grains;

[GenerateSerializer, Alias("Magneton.CaptureQueueState")]
public sealed class CaptureQueueState
{
    [Id(0)] public Dictionary<string, CaptureJob> Jobs { get; set; } = [];
    [Id(1)] public long Submitted { get; set; }
    /// <summary>Hash of the token of each running job's attempt (<see cref="JobTokens"/>).</summary>
    [Id(2)] public Dictionary<string, string> TokenHashes { get; set; } = [];
}

/// <summary>
/// One queue of capture jobs and the workers that run them. Heartbeats are kept in memory only (a reactivated
/// scheduler gives every worker a fresh timeout); jobs are persisted on every change of state. The roles of the
/// calls are checked before they arrive (<see cref="RequiresRoleAttribute"/>); a running job is reported only with
/// its attempt's token, and a job's command line is shown only to the caller that submitted it.
/// </summary>
public sealed class CaptureSchedulerGrain(
    [PersistentState("captures", GrainServiceRegistration.JobStorage)] IPersistentState<CaptureQueueState> state,
    ILogger<CaptureSchedulerGrain> log,
    IOptions<CaptureSchedulerOptions> options) : Grain, ICaptureSchedulerGrain
{
    /// <summary>A worker not heard from for this long is gone; its running job is queued again.</summary>
    TimeSpan WorkerTimeout { get; } = options.Value.WorkerTimeout;
    public const int MaxAttempts = 3;
    /// <summary>Finished jobs kept for <c>magneton workers</c> and <c>submit --wait</c>; older ones are dropped.</summary>
    public const int KeptFinishedJobs = 500;
    /// <summary>
    /// Jobs waiting at most, and the characters of one job's command: the queue's state is rewritten on every
    /// change, so a client must not be able to grow it without bound (300 jobs of 64 KiB made a 19.7 MB state).
    /// </summary>
    public const int MaxQueuedJobs = 200, MaxCommandChars = 16 * 1024;

    readonly Dictionary<string, (WorkerInfo Info, DateTimeOffset LastSeen)> _workers = new(StringComparer.Ordinal);
    readonly Dictionary<string, string> _owners = new(StringComparer.Ordinal);
    DateTimeOffset _activated;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _activated = DateTimeOffset.UtcNow;
        this.RegisterGrainTimer(SweepAsync, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        return Task.CompletedTask;
    }

    Caller Caller => ServiceProvider.Caller();

    public async Task<CaptureJob> Submit(CaptureSpec spec)
    {
        var caller = Caller;
        if (string.IsNullOrWhiteSpace(spec.System)) throw new MagnetonInputException("capture: --system is empty");
        if (spec.Workload is { } w && (w.Length == 0 || spec.Command.Length > 0))
            throw new MagnetonInputException("capture: a workload job names the workload and its arguments, not a command");
        if (spec.Workload is null && spec.Command.Length == 0) throw new MagnetonInputException("capture: no command to run (-- <command...>)");
        if (spec.Command.Concat(spec.Arguments ?? []).Sum(a => a.Length) + spec.System.Length > MaxCommandChars)
            throw new MagnetonInputException($"capture: the command is longer than {MaxCommandChars} characters");
        if (state.State.Jobs.Values.Count(j => j.State == CaptureState.Queued) >= MaxQueuedJobs)
            throw new MagnetonInputException($"capture: the queue is full ({MaxQueuedJobs} jobs wait for a GPU worker); submit again when workers have taken some");
        var id = $"capture-{++state.State.Submitted:D5}-{Guid.NewGuid():N}"[..28];
        var job = new CaptureJob(id, spec with { Hidden = false }, CaptureState.Queued, null, 0, "queued", null, null, DateTimeOffset.UtcNow, caller.Name);
        state.State.Jobs[id] = job;
        await state.WriteStateAsync();
        return job;
    }

    public async Task<CaptureAssignment?> Heartbeat(WorkerInfo worker)
    {
        var now = DateTimeOffset.UtcNow;
        WorkerOwner(worker.WorkerId);
        _workers[worker.WorkerId] = (worker, now);
        await RequeueForgottenAsync(worker);
        await SweepAsync(CancellationToken.None);
        if (worker.RunningJob is not null || worker.Gpus.Length == 0) return null;

        // Jobs pinned to this worker first, then those addressed to its node, then jobs for any GPU node; oldest
        // first in each.
        var next = state.State.Jobs.Values
            .Where(j => j.State == CaptureState.Queued && (j.Spec.Node is null || j.Spec.Node == worker.Node)
                        && (j.Spec.Worker is null || j.Spec.Worker == worker.WorkerId))
            .OrderBy(j => j.Spec.Worker is null).ThenBy(j => j.Spec.Node is null).ThenBy(j => j.SubmittedAt).FirstOrDefault();
        if (next is null) return null;
        var assigned = next with { State = CaptureState.Running, Worker = worker.WorkerId, Attempts = next.Attempts + 1, Progress = $"assigned to {worker.Node}" };
        var (token, hash) = JobTokens.Issue();
        state.State.Jobs[next.JobId] = assigned;
        state.State.TokenHashes[next.JobId] = hash;
        await state.WriteStateAsync();
        GrainLog.CaptureAssigned(log, next.JobId, worker.WorkerId, worker.Node, assigned.Attempts);
        return new CaptureAssignment(assigned, token);
    }

    public Task Progress(string jobId, string token, string message)
    {
        if (Owned(jobId, token) is { } job)
        {
            if (_workers.TryGetValue(job.Worker!, out var w)) _workers[job.Worker!] = (w.Info, DateTimeOffset.UtcNow);
            state.State.Jobs[jobId] = job with { Progress = message }; // not persisted: progress is for watchers
        }
        return Task.CompletedTask;
    }

    public Task<CaptureJob> Complete(string jobId, string token, string runId) =>
        Finish(jobId, token, j => j with { State = CaptureState.Done, RunId = runId, Progress = "done", Error = null });

    public Task<CaptureJob> Fail(string jobId, string token, string error) =>
        Finish(jobId, token, j => j with { State = CaptureState.Failed, Error = error, Progress = "failed" });

    public Task<CaptureJob> Release(string jobId, string token, string reason) =>
        // A clean stop is not the job's fault: the attempt is given back.
        Finish(jobId, token, j => j with { State = CaptureState.Queued, Worker = null, Attempts = j.Attempts - 1, Progress = $"requeued: {reason}" });

    /// <summary>The job if it is running and the token is its attempt's; null otherwise (a late or foreign report).</summary>
    CaptureJob? Owned(string jobId, string token) =>
        state.State.Jobs.TryGetValue(jobId, out var job) && job.State == CaptureState.Running
        && JobTokens.Matches(state.State.TokenHashes.GetValueOrDefault(jobId), token)
            ? job
            : null;

    /// <summary>
    /// With TLS, a worker id belongs to the certificate that registered it while that worker is alive: another
    /// certificate cannot beat under it (and so take over or requeue its job).
    /// </summary>
    void WorkerOwner(string workerId)
    {
        var caller = Caller;
        if (!caller.Identified) return;
        if (_owners.TryGetValue(workerId, out var owner) && owner != caller.Name
            && _workers.TryGetValue(workerId, out var seen) && DateTimeOffset.UtcNow - seen.LastSeen < WorkerTimeout)
            throw new AccessDeniedException($"worker {workerId} is registered by another certificate ({owner})");
        _owners[workerId] = caller.Name!;
    }

    /// <summary>
    /// A worker that restarted (same id) or never received the job a heartbeat gave it reports another running job
    /// than the scheduler holds for it: that job would otherwise stay Running for ever, since the worker keeps beating.
    /// </summary>
    async Task RequeueForgottenAsync(WorkerInfo worker)
    {
        bool changed = false;
        foreach (var job in state.State.Jobs.Values
                     .Where(j => j.State == CaptureState.Running && j.Worker == worker.WorkerId && j.JobId != worker.RunningJob).ToList())
        {
            log.LogWarning("capture {Job}: worker {Worker} no longer runs it (it reports {Running}); queued again",
                job.JobId, worker.WorkerId, worker.RunningJob ?? "none");
            Set(Requeue(job, $"requeued: worker {worker.WorkerId} restarted without it"));
            changed = true;
        }
        if (changed) await state.WriteStateAsync();
    }

    static CaptureJob Requeue(CaptureJob job, string why) => job.Attempts >= MaxAttempts
        ? job with { State = CaptureState.Failed, Error = $"{why} after {job.Attempts} attempts", Progress = "failed" }
        : job with { State = CaptureState.Queued, Worker = null, Progress = why };

    async Task<CaptureJob> Finish(string jobId, string token, Func<CaptureJob, CaptureJob> change)
    {
        var job = Get(jobId);
        // A worker that was declared gone and comes back late, or anyone without the attempt's token, does not
        // overwrite the job: they learn its state, not its command line.
        if (Owned(jobId, token) is null) return job.Redacted();
        var done = change(job);
        Set(done);
        DropOldFinishedJobs();
        await state.WriteStateAsync();
        return done;
    }

    /// <summary>Stores a job's new state; a job that is not running has no valid token any more.</summary>
    void Set(CaptureJob job)
    {
        state.State.Jobs[job.JobId] = job;
        if (job.State != CaptureState.Running) state.State.TokenHashes.Remove(job.JobId);
    }

    public Task<CaptureJob> GetJob(string jobId)
    {
        var caller = Caller;
        return Task.FromResult(ShownTo(caller, Get(jobId)));
    }

    public Task<CaptureJob[]> Jobs()
    {
        var caller = Caller;
        return Task.FromResult(state.State.Jobs.Values.OrderBy(j => j.SubmittedAt).Select(j => ShownTo(caller, j)).ToArray());
    }

    /// <summary>A job's command line and arguments only to the certificate that submitted it.</summary>
    static CaptureJob ShownTo(Caller caller, CaptureJob job) =>
        caller.Identified && caller.Name == job.Submitter ? job : job.Redacted();

    public Task<WorkerView[]> Workers()
    {
        var now = DateTimeOffset.UtcNow;
        return Task.FromResult(_workers.Values.OrderBy(w => w.Info.WorkerId, StringComparer.Ordinal)
            .Select(w => new WorkerView(w.Info, w.LastSeen, now - w.LastSeen < WorkerTimeout)).ToArray());
    }

    void DropOldFinishedJobs()
    {
        var finished = state.State.Jobs.Values.Where(j => j.State is CaptureState.Done or CaptureState.Failed).ToList();
        foreach (var old in finished.OrderBy(j => j.SubmittedAt).Take(finished.Count - KeptFinishedJobs))
            state.State.Jobs.Remove(old.JobId);
    }

    CaptureJob Get(string jobId) => state.State.Jobs.TryGetValue(jobId, out var j)
        ? j
        : throw new MagnetonInputException($"{jobId}: no such capture job");

    /// <summary>Jobs of workers gone quiet go back to the queue, or fail after <see cref="MaxAttempts"/>.</summary>
    async Task SweepAsync(CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        bool changed = false;
        foreach (var job in state.State.Jobs.Values.Where(j => j.State == CaptureState.Running).ToList())
        {
            var lastSeen = job.Worker is { } w && _workers.TryGetValue(w, out var seen) ? seen.LastSeen : _activated;
            if (now - lastSeen < WorkerTimeout) continue;
            var requeued = Requeue(job, $"requeued: worker {job.Worker} lost");
            log.LogWarning("capture {Job}: worker {Worker} not heard from for {Timeout}; {Outcome}",
                job.JobId, job.Worker, WorkerTimeout, requeued.State);
            Set(requeued);
            changed = true;
        }
        if (changed) await state.WriteStateAsync();
    }
}
