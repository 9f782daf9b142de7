using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Magneton.Grains;

namespace Magneton.Client;

/// <summary><c>magneton workers --cluster h:p [--json]</c>: the cluster's GPU workers and its capture jobs.</summary>
public static class WorkersCommand
{
    internal static Command Definition(TextWriter stdout, TextWriter stderr) =>
        RunsCommand.Listing("workers", "Lists a cluster's GPU workers (free, busy, lost) and its capture jobs.",
            "print the workers and jobs as JSON", (cluster, json, ct) => RunAsync(cluster, json, stdout, ct));

    public static async Task<int> RunAsync(ClusterTarget cluster, bool json, TextWriter stdout, CancellationToken ct)
    {
        await using var connection = await ClusterConnection.ConnectAsync(cluster, ct).ConfigureAwait(false);
        var scheduler = connection.Client.GetGrain<ICaptureSchedulerGrain>(CaptureWorker.Scheduler);
        var workers = await scheduler.Workers().ConfigureAwait(false);
        var jobs = await scheduler.Jobs().ConfigureAwait(false);
        if (json)
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(new
            {
                workers = workers.Select(w => new
                {
                    worker = w.Info.WorkerId, node = w.Info.Node, alive = w.Alive, running_job = w.Info.RunningJob, last_seen = w.LastSeen,
                    gpus = w.Info.Gpus.Select(g => new { index = g.Index, name = g.Name, uuid = g.Uuid, driver = g.Driver, power_limit_w = g.PowerLimitW }),
                }),
                jobs = jobs.Select(j => new
                {
                    job = j.JobId, system = j.Spec.System, workload = j.Spec.Workload, command = j.Spec.Command, arguments = j.Spec.Arguments,
                    arguments_hidden = j.Spec.Hidden, node = j.Spec.Node,
                    state = j.State.ToString().ToLowerInvariant(), worker = j.Worker, attempts = j.Attempts, progress = j.Progress,
                    run_id = j.RunId, error = j.Error, submitted_at = j.SubmittedAt,
                }),
            }, Magneton.Core.Reporting.ReportJson.Options)).ConfigureAwait(false);
            return Program.Ok;
        }

        var inv = CultureInfo.InvariantCulture;
        await stdout.WriteLineAsync($"{workers.Count(w => w.Alive)} of {workers.Length} worker(s) alive").ConfigureAwait(false);
        foreach (var w in workers)
        {
            var gpus = string.Join(", ", w.Info.Gpus.Select(g => string.Format(inv, "{0} ({1}, driver {2}, {3:0} W)", g.Name, g.Uuid, g.Driver, g.PowerLimitW)));
            var state = !w.Alive ? "lost" : w.Info.RunningJob is { } r ? "busy " + r : "free";
            await stdout.WriteLineAsync($"  {w.Info.WorkerId,-28} {state,-38} {gpus}").ConfigureAwait(false);
        }
        await stdout.WriteLineAsync($"{jobs.Length} capture job(s)").ConfigureAwait(false);
        foreach (var j in jobs)
        {
            var outcome = j.State switch
            {
                CaptureState.Done => RunArgument.Typed(j.RunId!),
                CaptureState.Failed => j.Error,
                _ => j.Progress,
            };
            await stdout.WriteLineAsync(
                $"  {j.JobId,-28} {j.State.ToString().ToLowerInvariant(),-8} {j.Spec.System,-24} {What(j.Spec),-24} {(j.Worker ?? j.Spec.Node ?? "any node"),-24} {outcome}").ConfigureAwait(false);
        }
        return Program.Ok;
    }

    /// <summary>The workload by name, or the command line when the cluster shows it to this caller (its submitter).</summary>
    static string What(CaptureSpec spec) =>
        spec.Workload is { } w ? (spec.Hidden || spec.Arguments is not { Length: > 0 } ? w : w + " " + string.Join(' ', spec.Arguments))
        : spec.Hidden ? "(command hidden)" : string.Join(' ', spec.Command);
}
