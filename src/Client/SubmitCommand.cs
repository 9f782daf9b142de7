using Magneton.Grains;

namespace Magneton.Client;

/// <summary>
/// <c>magneton submit --cluster h:p --system NAME [--node N] [--wait] [probe options] -- &lt;python command...&gt;</c>:
/// queues a capture for the cluster's GPU workers and prints its job id; with --wait, follows it to the end and
/// prints <c>run:&lt;id&gt;</c>, ready for <c>magneton compare --cluster</c>.
/// </summary>
public static class SubmitCommand
{
    /// <summary>Exit code of --wait when the capture job failed on its worker.</summary>
    public const int CaptureFailed = 1;

    public const string Help = """
        magneton submit --cluster <h:p> --system <name> --workload <name> [options] [-- <declared arguments...>]
        magneton submit --cluster <h:p> --system <name> [options] -- <python command...>

        Queues a capture (as magneton capture would run it) for the cluster's GPU workers (magneton worker) and
        prints the job id. A workload is one the worker's workload file names, with only the arguments it
        declares; a command runs only on workers started with --allow-any-command, in their work directory (its
        script must exist on the GPU node). A worker refuses what its node does not allow: the job fails with the
        reason. A job whose worker disappears is given to another worker (at most 3 attempts).

        options:
          --cluster <h:p>       the cluster's gateway(s) (required)
          --system <name>       name of the system, recorded in the bundle (required)
          --workload <name>     the node's workload to run; after -- only the arguments it declares
          --node <name>         run on this node's worker (default: any GPU node)
          --wait                follow the job (progress on stderr) and print run:<id> when it is done;
                                exit 1 if the capture failed

        """ + CaptureCommand.ProbeOptionsHelp + "\n";

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        string? cluster = null, system = null, node = null, workload = null;
        bool wait = false;
        var probeArgs = new List<string>();
        int i = 0;
        for (; i < args.Length && args[i] != "--"; i++)
        {
            switch (args[i])
            {
                case "-h" or "--help":
                    await stdout.WriteAsync(Help).ConfigureAwait(false);
                    return Program.Ok;
                case "--cluster":
                    cluster = CaptureCommand.Value(args, ref i);
                    break;
                case "--system":
                    system = CaptureCommand.Value(args, ref i);
                    break;
                case "--node":
                    node = CaptureCommand.Value(args, ref i);
                    break;
                case "--workload":
                    workload = CaptureCommand.Value(args, ref i);
                    break;
                case "--wait":
                    wait = true;
                    break;
                case var _ when CaptureCommand.ProbeOption(args, ref i, probeArgs):
                    break;
                default:
                    throw new UsageException(args[i].StartsWith('-')
                        ? $"unknown option '{args[i]}' for submit (see magneton submit --help)"
                        : $"unexpected argument '{args[i]}': the command to capture goes after -- (magneton submit --cluster H:P --system NAME -- python script.py)");
            }
        }
        if (cluster is null) throw new UsageException("submit needs --cluster <host:port> (the cluster whose GPU workers run the capture)");
        if (system is null) throw new UsageException("submit needs --system NAME (the name recorded in the bundle)");
        var after = i < args.Length ? args[(i + 1)..] : [];
        CaptureSpec spec;
        if (workload is not null)
        {
            spec = new CaptureSpec(system, [], node, [.. probeArgs], workload, after);
        }
        else
        {
            if (after.Length == 0)
                throw new UsageException("submit needs --workload NAME or the command after --: magneton submit --cluster H:P --system NAME -- python script.py [args]");
            CaptureCommand.CheckCommand(after); // refused here rather than on a GPU node
            spec = new CaptureSpec(system, after, node, [.. probeArgs]);
        }
        ClusterEndpoints.Parse(cluster);

        await using var connection = await ClusterConnection.ConnectAsync(cluster, ct).ConfigureAwait(false);
        var scheduler = connection.Client.GetGrain<ICaptureSchedulerGrain>(CaptureWorker.Scheduler);
        var job = await scheduler.Submit(spec).ConfigureAwait(false);
        var alive = (await scheduler.Workers().ConfigureAwait(false))
            .Count(w => w.Alive && (node is null || w.Info.Node == node) && w.Info.Gpus.Length > 0);
        await stderr.WriteLineAsync(alive == 0
            ? $"{job.JobId}: queued; no GPU worker{(node is null ? "" : " on " + node)} is alive now (magneton workers --cluster {cluster})"
            : $"{job.JobId}: queued for {(node is null ? "any GPU node" : node)} ({alive} worker(s) alive)").ConfigureAwait(false);
        if (!wait)
        {
            await stdout.WriteLineAsync(job.JobId).ConfigureAwait(false);
            return Program.Ok;
        }

        string? shown = null;
        while (job.State is CaptureState.Queued or CaptureState.Running)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct).ConfigureAwait(false);
            job = await Transient.RetryAsync(() => scheduler.GetJob(job.JobId),
                Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, "following the job").ConfigureAwait(false);
            var state = job.State.ToString().ToLowerInvariant();
            var line = $"{job.JobId}: {state}{(job.Worker is null ? "" : " on " + job.Worker)}{(job.Progress == state ? "" : ": " + job.Progress)}";
            if (line != shown && job.State is CaptureState.Queued or CaptureState.Running) await stderr.WriteLineAsync(line).ConfigureAwait(false);
            shown = line;
        }
        if (job.State == CaptureState.Failed)
        {
            await stderr.WriteLineAsync($"magneton: capture {job.JobId} failed: {job.Error}").ConfigureAwait(false);
            return CaptureFailed;
        }
        await stderr.WriteLineAsync($"{job.JobId}: done on {job.Worker} (attempt {job.Attempts})").ConfigureAwait(false);
        await stdout.WriteLineAsync(BundleUploader.RunPrefix + job.RunId).ConfigureAwait(false);
        return Program.Ok;
    }
}
