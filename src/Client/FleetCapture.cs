using Magneton.Grains;

namespace Magneton.Client;

/// <summary>
/// Captures on the cluster's GPU workers for <c>audit --capture</c> and <c>campaign --capture</c>: picks the workers,
/// submits one job per capture to the capture scheduler, pinned to its worker, and follows the jobs to the end with a
/// line of progress whenever one of them changes.
/// </summary>
internal static class FleetCapture
{
    /// <summary>What to run: a named workload with its declared arguments, or (on --allow-any-command workers) a command.</summary>
    public sealed record Workload(string? Name, IReadOnlyList<string> Arguments)
    {
        /// <param name="worker">pinned to this worker (node/gpuN), or null</param>
        /// <param name="node">addressed to this node, or null: any GPU node</param>
        public CaptureSpec Spec(string system, string? worker, string? node, string[] probeArguments) =>
            (Name is not null
                ? new CaptureSpec(system, [], node, probeArguments, Name, [.. Arguments])
                : new CaptureSpec(system, [.. Arguments], node, probeArguments)) with { Worker = worker };

        /// <summary>The workload as typed: --workload NAME [-- declared args], or -- &lt;python command&gt;.</summary>
        /// <remarks>
        /// <c>--workload "NAME ARGS"</c> is also taken (the words after the name are its arguments, before those after
        /// --): a Kubernetes job's command line gets the workload from one ConfigMap value.
        /// </remarks>
        public static Workload Of(string? name, IReadOnlyList<string> after, string example)
        {
            if (name is not null)
            {
                var words = name.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                return new Workload(words[0], [.. words[1..], .. after]);
            }
            if (after.Count == 0) throw new UsageException($"--capture needs --workload NAME or the command after --: {example}");
            CaptureCommand.CheckCommand(after); // refused here rather than on a GPU node
            return new Workload(null, after);
        }

        public override string ToString() => Name is null ? "command " + Arguments[0] : "workload " + Name;
    }

    /// <summary>The alive workers with a GPU, in order of worker id (node/gpuN).</summary>
    public static async Task<List<WorkerView>> AliveWorkersAsync(ClusterConnection connection, CancellationToken ct) =>
        [.. (await connection.CallAsync(c => c.GetGrain<ICaptureSchedulerGrain>(CaptureWorker.Scheduler).Workers(), ct).ConfigureAwait(false))
            .Where(w => w.Alive && w.Info.Gpus.Length > 0)
            .OrderBy(w => w.Info.WorkerId, StringComparer.Ordinal)];

    /// <summary>
    /// The workers an audit captures on: <paramref name="nodes"/> null or "all" is every node with an alive worker;
    /// <paramref name="gpus"/> null or "all" every GPU of each, else the listed GPU indices. A node named but not alive is
    /// an error, not a smaller audit.
    /// </summary>
    public static IReadOnlyList<WorkerView> Select(IReadOnlyList<WorkerView> alive, IReadOnlyList<string>? nodes, IReadOnlyList<int>? gpus)
    {
        if (nodes is not null)
            foreach (var n in nodes.Where(n => !alive.Any(w => w.Info.Node == n)))
                throw new UsageException($"--nodes: no GPU worker of node {n} is alive (alive: {Describe(alive)})");
        var chosen = alive.Where(w => (nodes is null || nodes.Contains(w.Info.Node)) && (gpus is null || w.Info.Gpus.Any(g => gpus.Contains(g.Index)))).ToList();
        if (chosen.Count == 0)
            throw new UsageException(alive.Count == 0
                ? "no GPU worker is alive in the cluster (magneton workers --cluster ...)"
                : $"--gpus: no alive worker has GPU {string.Join(',', gpus ?? [])} (alive: {Describe(alive)})");
        return chosen;
    }

    static string Describe(IReadOnlyList<WorkerView> alive) => alive.Count == 0 ? "none" : string.Join(", ", alive.Select(w => w.Info.WorkerId));

    /// <summary>Submits every spec and follows the jobs until each is done or failed; the jobs in the order of the specs.</summary>
    public static async Task<IReadOnlyList<CaptureJob>> RunAsync(ClusterConnection connection, IReadOnlyList<CaptureSpec> specs,
        TextWriter progress, CancellationToken ct)
    {
        ICaptureSchedulerGrain Scheduler(IClusterClient c) => c.GetGrain<ICaptureSchedulerGrain>(CaptureWorker.Scheduler);
        var jobs = new List<CaptureJob>();
        foreach (var spec in specs)
        {
            var job = await connection.CallAsync(c => Scheduler(c).Submit(spec), ct).ConfigureAwait(false);
            await progress.WriteLineAsync($"{job.JobId}: {spec.System} queued for {spec.Worker ?? spec.Node ?? "any GPU node"}").ConfigureAwait(false);
            jobs.Add(job);
        }
        var gone = new GoneWorkers();
        HashSet<string> alive = [];
        return await CaptureJobWatch.FollowAsync(jobs,
            async (job, ct) =>
            {
                var now = await connection.CallAsync(c => Scheduler(c).GetJob(job.JobId), ct).ConfigureAwait(false);
                // A job pinned to a worker that went away waits in the queue for it; the audit does not wait with it.
                return gone.GaveUp(now, alive) is { } why ? now with { State = CaptureState.Failed, Error = why } : now;
            },
            Line, progress, ct,
            beforeRound: async ct => alive = await gone.AliveAsync(connection, ct).ConfigureAwait(false)).ConfigureAwait(false);
    }

    /// <summary>Which pinned workers have not been alive for <see cref="Patience"/>: their queued jobs are given up here.</summary>
    sealed class GoneWorkers
    {
        /// <summary>Longer than a worker restart (a rolling update of the DaemonSet) takes.</summary>
        static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

        readonly Dictionary<string, DateTime> _missingSince = new(StringComparer.Ordinal);
        DateTime _asked;
        HashSet<string>? _alive;

        public async Task<HashSet<string>> AliveAsync(ClusterConnection connection, CancellationToken ct)
        {
            if (_alive is null || DateTime.UtcNow - _asked > TimeSpan.FromSeconds(5))
            {
                _alive = [.. (await AliveWorkersAsync(connection, ct).ConfigureAwait(false)).Select(w => w.Info.WorkerId)];
                _asked = DateTime.UtcNow;
            }
            return _alive;
        }

        public string? GaveUp(CaptureJob job, HashSet<string> alive)
        {
            if (job.State != CaptureState.Queued || job.Spec.Worker is not { } worker) return null;
            if (alive.Contains(worker)) { _missingSince.Remove(worker); return null; }
            var since = _missingSince.TryGetValue(worker, out var t) ? t : _missingSince[worker] = DateTime.UtcNow;
            return DateTime.UtcNow - since > Patience
                ? $"worker {worker} has not been alive for {Patience.TotalSeconds:0} s; its job {job.JobId} stays queued for it"
                : null;
        }
    }

    static string Line(CaptureJob job) => job.State switch
    {
        CaptureState.Done => $"{job.JobId}: {job.Spec.System} done on {job.Worker}: {RunArgument.Typed(job.RunId!)}",
        CaptureState.Failed => $"{job.JobId}: {job.Spec.System} failed on {job.Worker ?? "no worker"}: {job.Error}",
        _ => $"{job.JobId}: {job.Spec.System} {CaptureJobWatch.StateText(job)}",
    };
}
