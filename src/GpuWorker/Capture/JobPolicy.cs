namespace Magneton.GpuWorker.Capture;

/// <summary>
/// What a GPU node lets the cluster run on it: the named workloads of its workload file, with their declared
/// arguments, and an arbitrary Python command only when the worker was started with <c>--allow-any-command</c>
/// (a single-user machine). The worker, not the cluster, decides: whoever reaches the gateway cannot widen it.
/// </summary>
public sealed class JobPolicy(IReadOnlyDictionary<string, Workload> workloads, bool allowAnyCommand)
{
    public IReadOnlyCollection<string> Workloads => workloads.Keys.ToList();
    public bool AllowAnyCommand => allowAnyCommand;

    /// <summary>The command, directory and environment of a job, or <see cref="JobRefusedException"/> with the reason.</summary>
    public AllowedJob Resolve(string? workload, IReadOnlyList<string> arguments, IReadOnlyList<string> command)
    {
        if (workload is not null)
        {
            if (!workloads.TryGetValue(workload, out var w))
                throw new JobRefusedException(workloads.Count == 0
                    ? $"workload {workload}: this node has no workload file"
                    : $"workload {workload} is not allowed on this node (allowed: {string.Join(", ", workloads.Keys.Order(StringComparer.Ordinal))})");
            return new AllowedJob(w.CommandWith(arguments), w.WorkingDirectory, w.Environment) { Device = w.Device };
        }
        if (!allowAnyCommand)
            throw new JobRefusedException("this node runs only the workloads of its workload file (magneton submit --workload NAME), "
                + "not commands: its worker was not started with --allow-any-command");
        try
        {
            ProbeLauncher.Split(command);
        }
        catch (CaptureException e)
        {
            throw new JobRefusedException(e.Message);
        }
        return new AllowedJob(command, null, new Dictionary<string, string>());
    }
}

/// <summary>A job as the node runs it.</summary>
public sealed record AllowedJob(IReadOnlyList<string> Command, string? WorkingDirectory, IReadOnlyDictionary<string, string> Environment)
{
    public Magneton.Core.Bundles.CaptureDevice Device { get; init; } = Magneton.Core.Bundles.CaptureDevice.Gpu;
}
