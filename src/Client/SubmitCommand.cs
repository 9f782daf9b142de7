using System.CommandLine;
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

    internal static Command Definition(TextWriter stdout, TextWriter stderr)
    {
        var cluster = new ClusterOptionSet(required: true);
        var system = CliOptions.Text("--system", "name", "name of the system, recorded in the bundle");
        system.Required = true;
        var node = CliOptions.Text("--node", "name", "run on this node's worker (default: any GPU node)");
        var workload = CliOptions.NonEmpty("--workload", "name", "the node's workload to run; after -- only the arguments it declares");
        var wait = CliOptions.Flag("--wait", "follow the job (progress on stderr) and print run:<id> when it is done; exit 1 if the capture failed");
        var probe = new ProbeOptionSet();
        var tail = new CommandTail("magneton submit --cluster H:P --system NAME -- python script.py");
        tail.Arity = ArgumentArity.ZeroOrMore; // with --workload, only the declared arguments (maybe none) follow --
        var command = new Command("submit",
            "Queues a capture (as magneton capture would run it) for the cluster's GPU workers (magneton worker) and prints the job "
            + "id. A workload is one the worker's workload file names, with only the arguments it declares; a command runs only on "
            + "workers started with --allow-any-command, in their work directory (its script must exist on the GPU node). A worker "
            + "refuses what its node does not allow: the job fails with the reason. A job whose worker disappears is given to "
            + "another worker (at most 3 attempts).")
        {
            system, workload, node, wait,
        };
        cluster.AddTo(command);
        probe.AddTo(command);
        command.Add(tail);
        command.SetAction((pr, ct) => RunAsync(cluster.ReadRequired(pr),
            Spec(pr.GetValue(system)!, pr.GetValue(workload), pr.GetValue(tail) ?? [], pr.GetValue(node), [.. probe.Read(pr)]),
            pr.GetValue(wait), stdout, stderr, ct));
        return command;
    }

    /// <summary>A named workload with its declared arguments, or (for --allow-any-command workers) a command.</summary>
    static CaptureSpec Spec(string system, string? workload, string[] after, string? node, string[] probeArgs)
    {
        if (workload is not null) return new CaptureSpec(system, [], node, probeArgs, workload, after);
        if (after.Length == 0)
            throw new UsageException("submit needs --workload NAME or the command after --: magneton submit --cluster H:P --system NAME -- python script.py [args]");
        return new CaptureSpec(system, after, node, probeArgs);
    }

    public static async Task<int> RunAsync(ClusterTarget cluster, CaptureSpec spec, bool wait, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (spec.Workload is null) CaptureCommand.CheckCommand(spec.Command); // refused here rather than on a GPU node
        string? node = spec.Node;

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

        job = (await CaptureJobWatch.FollowAsync([job],
            (j, _) => Transient.RetryAsync(() => scheduler.GetJob(j.JobId),
                Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, "following the job"),
            // The end is written below, with the run or the error.
            j => CaptureJobWatch.Finished(j) ? null : $"{j.JobId}: {CaptureJobWatch.StateText(j)}",
            stderr, ct).ConfigureAwait(false))[0];
        if (job.State == CaptureState.Failed)
        {
            await stderr.WriteLineAsync($"magneton: capture {job.JobId} failed: {job.Error}").ConfigureAwait(false);
            return CaptureFailed;
        }
        await stderr.WriteLineAsync($"{job.JobId}: done on {job.Worker} (attempt {job.Attempts})").ConfigureAwait(false);
        await stdout.WriteLineAsync(RunArgument.Typed(job.RunId!)).ConfigureAwait(false);
        return Program.Ok;
    }
}
