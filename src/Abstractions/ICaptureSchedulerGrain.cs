namespace Magneton.Grains;

/// <summary>A GPU of a worker node, as NVML names it.</summary>
[GenerateSerializer, Alias("Magneton.WorkerGpu")]
public sealed record WorkerGpu(
    [property: Id(0)] int Index,
    [property: Id(1)] string Name,
    [property: Id(2)] string Uuid,
    [property: Id(3)] string Driver,
    [property: Id(4)] double PowerLimitW);

/// <summary>What a GPU worker says about itself at every heartbeat.</summary>
[GenerateSerializer, Alias("Magneton.WorkerInfo")]
public sealed record WorkerInfo(
    [property: Id(0)] string WorkerId,
    [property: Id(1)] string Node,
    [property: Id(2)] WorkerGpu[] Gpus,
    [property: Id(3)] string? RunningJob);

/// <summary>
/// A capture to run on a GPU node: a <see cref="Workload"/> the node's workload file names, with the
/// <see cref="Arguments"/> it declares, or (only on a worker started with --allow-any-command) a Python
/// <see cref="Command"/>, run as <c>magneton capture --system System [ProbeArguments] -- Command...</c>.
/// <see cref="Node"/> null means any GPU node. A command runs in the worker's work directory, so a script path
/// is one that exists on the GPU node (an image's or a shared volume's).
/// </summary>
[GenerateSerializer, Alias("Magneton.CaptureSpec")]
public sealed record CaptureSpec(
    [property: Id(0)] string System,
    [property: Id(1)] string[] Command,
    [property: Id(2)] string? Node = null,
    [property: Id(3)] string[]? ProbeArguments = null,
    [property: Id(4)] string? Workload = null,
    [property: Id(5)] string[]? Arguments = null)
{
    /// <summary>What others than its submitter and its worker see: no command line, no arguments (they may hold secrets).</summary>
    public CaptureSpec Redacted() => this with { Command = [], Arguments = Arguments is null ? null : [], Hidden = true };

    /// <summary>True in a <see cref="Redacted"/> copy.</summary>
    [Id(6)] public bool Hidden { get; init; }

    /// <summary>
    /// Only this worker (<c>node/gpuN</c>) may take the job: an audit captures every GPU once, a campaign captures
    /// every version on the same GPU so that board-to-board sensor differences do not enter. Null: any worker of
    /// <see cref="Node"/>.
    /// </summary>
    [Id(7)] public string? Worker { get; init; }
}

public enum CaptureState { Queued, Running, Done, Failed }

[GenerateSerializer, Alias("Magneton.CaptureJob")]
public sealed record CaptureJob(
    [property: Id(0)] string JobId,
    [property: Id(1)] CaptureSpec Spec,
    [property: Id(2)] CaptureState State,
    [property: Id(3)] string? Worker,
    [property: Id(4)] int Attempts,
    [property: Id(5)] string? Progress,
    [property: Id(6)] string? RunId,
    [property: Id(7)] string? Error,
    [property: Id(8)] DateTimeOffset SubmittedAt,
    [property: Id(9)] string? Submitter = null)
{
    public CaptureJob Redacted() => Spec.Hidden ? this : this with { Spec = Spec.Redacted() };
}

/// <summary>
/// A job given to a worker, with the token that binds it to that worker: only the holder of the token can report
/// its progress, complete, fail or release it (a token is issued per attempt and never listed).
/// </summary>
[GenerateSerializer, Alias("Magneton.CaptureAssignment")]
public sealed record CaptureAssignment(
    [property: Id(0)] CaptureJob Job,
    [property: Id(1)] string Token);

/// <summary>A worker as the scheduler sees it: alive (heard from within the timeout) and busy or free.</summary>
[GenerateSerializer, Alias("Magneton.WorkerView")]
public sealed record WorkerView(
    [property: Id(0)] WorkerInfo Info,
    [property: Id(1)] DateTimeOffset LastSeen,
    [property: Id(2)] bool Alive);

/// <summary>
/// The capture queue of a cluster (key "default"): GPU workers register and ask for work with their heartbeat,
/// users submit captures addressed to a node or to any GPU node. A worker that stops beating for
/// <c>CaptureSchedulerOptions.WorkerTimeout</c> is gone and its running job goes back to the queue (at most
/// <c>MaxAttempts</c> times). Jobs and their outcomes are persisted. With TLS on, submitting needs the submit role
/// and beating the worker role (see <c>ClusterRole</c>); listings show a job's command line only to its submitter.
/// </summary>
[Alias("Magneton.ICaptureSchedulerGrain")]
public interface ICaptureSchedulerGrain : IGrainWithStringKey
{
    [RequiresRole(ClusterRoles.Submit)] [Alias("Submit")] Task<CaptureJob> Submit(CaptureSpec spec);

    /// <summary>Registers or refreshes a worker; a free worker gets its next job and the job's token (or null).</summary>
    [RequiresRole(ClusterRoles.Work)] [Alias("Heartbeat")] Task<CaptureAssignment?> Heartbeat(WorkerInfo worker);

    [RequiresRole(ClusterRoles.Work)] [Alias("Progress")] Task Progress(string jobId, string token, string message);
    [RequiresRole(ClusterRoles.Work)] [Alias("Complete")] Task<CaptureJob> Complete(string jobId, string token, string runId);
    [RequiresRole(ClusterRoles.Work)] [Alias("Fail")] Task<CaptureJob> Fail(string jobId, string token, string error);

    /// <summary>A worker that stops (SIGTERM) hands its running job back: queued again at once, not after a timeout.</summary>
    [RequiresRole(ClusterRoles.Work)] [Alias("Release")] Task<CaptureJob> Release(string jobId, string token, string reason);

    /// <summary>The job, its command line hidden unless the caller submitted it.</summary>
    [RequiresRole(ClusterRoles.Read)] [Alias("GetJob")] Task<CaptureJob> GetJob(string jobId);
    [RequiresRole(ClusterRoles.Read)] [Alias("Jobs")] Task<CaptureJob[]> Jobs();
    [RequiresRole(ClusterRoles.Read)] [Alias("Workers")] Task<WorkerView[]> Workers();
}
