using Microsoft.Extensions.Logging;

namespace Magneton.Grains;

[GenerateSerializer, Alias("Magneton.CaptureQueueState")]
public sealed class CaptureQueueState
{
    [Id(0)] public Dictionary<string, CaptureJob> Jobs { get; set; } = [];
    [Id(1)] public long Submitted { get; set; }
}

/// <summary>
/// One queue of capture jobs and the workers that run them. Heartbeats are kept in memory only (a reactivated
/// scheduler gives every worker a fresh timeout); jobs are persisted on every change of state.
/// </summary>
public sealed class CaptureSchedulerGrain(
    [PersistentState("captures", GrainServiceRegistration.JobStorage)] IPersistentState<CaptureQueueState> state,
    ILogger<CaptureSchedulerGrain> log) : Grain, ICaptureSchedulerGrain
{
    /// <summary>A worker not heard from for this long is gone; its running job is queued again.</summary>
    public static TimeSpan WorkerTimeout { get; set; } = TimeSpan.FromSeconds(15);
    public const int MaxAttempts = 3;
    /// <summary>Finished jobs kept for <c>magneton workers</c> and <c>submit --wait</c>; older ones are dropped.</summary>
    public const int KeptFinishedJobs = 500;
    /// <summary>
    /// Jobs waiting at most, and the characters of one job's command: the queue's state is rewritten on every
    /// change, so a client must not be able to grow it without bound (300 jobs of 64 KiB made a 19.7 MB state).
    /// </summary>
    public const int MaxQueuedJobs = 200, MaxCommandChars = 16 * 1024;

    readonly Dictionary<string, (WorkerInfo Info, DateTimeOffset LastSeen)> _workers = new(StringComparer.Ordinal);
    DateTimeOffset _activated;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _activated = DateTimeOffset.UtcNow;
        this.RegisterGrainTimer(SweepAsync, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
        return Task.CompletedTask;
    }

    public async Task<CaptureJob> Submit(CaptureSpec spec)
    {
        if (string.IsNullOrWhiteSpace(spec.System)) throw new MagnetonInputException("capture: --system is empty");
        if (spec.Command.Length == 0) throw new MagnetonInputException("capture: no command to run (-- <command...>)");
        if (spec.Command.Sum(a => a.Length) + spec.System.Length > MaxCommandChars)
            throw new MagnetonInputException($"capture: the command is longer than {MaxCommandChars} characters");
        if (state.State.Jobs.Values.Count(j => j.State == CaptureState.Queued) >= MaxQueuedJobs)
            throw new MagnetonInputException($"capture: the queue is full ({MaxQueuedJobs} jobs wait for a GPU worker); submit again when workers have taken some");
        var id = $"capture-{++state.State.Submitted:D5}-{Guid.NewGuid():N}"[..28];
        var job = new CaptureJob(id, spec, CaptureState.Queued, null, 0, "queued", null, null, DateTimeOffset.UtcNow);
        state.State.Jobs[id] = job;
        await state.WriteStateAsync();
        return job;
    }

    public async Task<CaptureJob?> Heartbeat(WorkerInfo worker)
    {
        var now = DateTimeOffset.UtcNow;
        _workers[worker.WorkerId] = (worker, now);
        await RequeueForgottenAsync(worker);
        await SweepAsync(CancellationToken.None);
        if (worker.RunningJob is not null || worker.Gpus.Length == 0) return null;

        // Jobs addressed to this node first, then jobs for any GPU node; oldest first in each.
        var next = state.State.Jobs.Values
            .Where(j => j.State == CaptureState.Queued && (j.Spec.Node is null || j.Spec.Node == worker.Node))
            .OrderBy(j => j.Spec.Node is null).ThenBy(j => j.SubmittedAt).FirstOrDefault();
        if (next is null) return null;
        var assigned = next with { State = CaptureState.Running, Worker = worker.WorkerId, Attempts = next.Attempts + 1, Progress = $"assigned to {worker.Node}" };
        state.State.Jobs[next.JobId] = assigned;
        await state.WriteStateAsync();
        log.LogInformation("capture {Job} assigned to worker {Worker} on {Node} (attempt {Attempt})", next.JobId, worker.WorkerId, worker.Node, assigned.Attempts);
        return assigned;
    }

    public Task Progress(string workerId, string jobId, string message)
    {
        if (_workers.TryGetValue(workerId, out var w)) _workers[workerId] = (w.Info, DateTimeOffset.UtcNow);
        if (state.State.Jobs.TryGetValue(jobId, out var job) && job.State == CaptureState.Running && job.Worker == workerId)
            state.State.Jobs[jobId] = job with { Progress = message }; // not persisted: progress is for watchers
        return Task.CompletedTask;
    }

    public Task<CaptureJob> Complete(string workerId, string jobId, string runId) =>
        Finish(workerId, jobId, j => j with { State = CaptureState.Done, RunId = runId, Progress = "done", Error = null });

    public Task<CaptureJob> Fail(string workerId, string jobId, string error) =>
        Finish(workerId, jobId, j => j with { State = CaptureState.Failed, Error = error, Progress = "failed" });

    public Task<CaptureJob> Release(string workerId, string jobId, string reason) =>
        // A clean stop is not the job's fault: the attempt is given back.
        Finish(workerId, jobId, j => j with { State = CaptureState.Queued, Worker = null, Attempts = j.Attempts - 1, Progress = $"requeued: {reason}" });

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
            state.State.Jobs[job.JobId] = Requeue(job, $"requeued: worker {worker.WorkerId} restarted without it");
            changed = true;
        }
        if (changed) await state.WriteStateAsync();
    }

    static CaptureJob Requeue(CaptureJob job, string why) => job.Attempts >= MaxAttempts
        ? job with { State = CaptureState.Failed, Error = $"{why} after {job.Attempts} attempts", Progress = "failed" }
        : job with { State = CaptureState.Queued, Worker = null, Progress = why };

    async Task<CaptureJob> Finish(string workerId, string jobId, Func<CaptureJob, CaptureJob> change)
    {
        var job = Get(jobId);
        // A worker that was declared gone and comes back late does not overwrite the job's new owner.
        if (job.Worker != workerId || job.State != CaptureState.Running) return job;
        var done = change(job);
        state.State.Jobs[jobId] = done;
        DropOldFinishedJobs();
        await state.WriteStateAsync();
        return done;
    }

    public Task<CaptureJob> GetJob(string jobId) => Task.FromResult(Get(jobId));

    public Task<CaptureJob[]> Jobs() => Task.FromResult(state.State.Jobs.Values.OrderBy(j => j.SubmittedAt).ToArray());

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
            state.State.Jobs[job.JobId] = requeued;
            changed = true;
        }
        if (changed) await state.WriteStateAsync();
    }
}
