using System.CommandLine;
using System.Globalization;
using Magneton.GpuWorker.Capture;
using Magneton.GpuWorker.Nvml;
using Magneton.Grains;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Magneton.Client;

/// <summary>
/// <c>magneton worker --cluster host:port [options]</c>: a long-lived GPU worker. It opens NVML, registers one
/// <see cref="CaptureWorker"/> per GPU with the cluster's capture scheduler, runs the capture jobs it is given until
/// SIGTERM/SIGINT, then hands a running job back and exits 0. Without an NVIDIA driver it exits 2 with one line.
/// </summary>
public static class WorkerCommand
{
    public const string ReadyPrefix = "magneton worker: ready";

    internal static Command Definition(TextWriter stdout, TextWriter stderr)
    {
        var cluster = new ClusterOptionSet(required: true);
        var node = CliOptions.Value<string?>("--node", "name", "node name jobs are addressed to (default $NODE_NAME, else the host name)", CheckNode);
        var gpu = CliOptions.Value<int?>("--gpu", "n|all", "the GPU(s) to work with, by NVML index (default all)",
            v => v == "all" ? null : CliOptions.Index("--gpu")(v));
        gpu.CompletionSources.Add("all");
        var workDir = CliOptions.Text("--work-dir", "dir",
            "current directory of the captures and where bundles are written (default $TMPDIR/magneton-worker)");
        var keep = CliOptions.Flag("--keep-bundles", "keep uploaded bundles in the work directory (failed captures are always kept)");
        var python = CliOptions.Text("--python", "path", "interpreter for `script.py` / `-m` commands (default: MAGNETON_PYTHON or python3)");
        var probePath = CliOptions.Text("--probe-path", "dir",
            "directory put on PYTHONPATH so magneton_probe imports without pip (default: MAGNETON_PROBE_PATH)");
        var workloads = CliOptions.NonEmpty("--workloads", "file", "the workloads this node runs (JSON, see README \"GPU workers\")");
        var anyCommand = CliOptions.Flag("--allow-any-command", "also run any Python command a submitter sends (a single-user machine only)");
        var heartbeat = CliOptions.Value("--heartbeat", "s", "seconds between beats (default 2; the silo's --worker-timeout must be longer)",
            v => CliOptions.Seconds("--heartbeat", 60)(v));
        heartbeat.DefaultValueFactory = _ => 2;
        var command = new Command("worker",
            "A GPU worker: registers this node's GPUs with the cluster (node, GPUs, driver, free/busy), runs the capture jobs given "
            + "to it (magneton submit) under the probe while sampling NVML, uploads each bundle and reports its run id. One job at a "
            + "time per GPU. Prints one line on stdout once registered: " + ReadyPrefix + " node=<node> workers=<node>/gpu<i>,... "
            + "cluster=<h:p> work-dir=<dir>; logs to stderr, and on SIGTERM stops the running capture, hands its job back to the "
            + "queue and exits 0. Runs only what this node allows: the named workloads of --workloads (magneton submit --workload "
            + "NAME, with the arguments each declares), and arbitrary Python commands only with --allow-any-command; anything else "
            + "fails its job with the reason and nothing runs. Jobs start from a minimal environment, not the worker's.")
        {
            workloads, anyCommand, node, gpu, workDir, keep, python, probePath, heartbeat,
        };
        cluster.AddTo(command);
        command.SetAction((pr, ct) => RunAsync(new Arguments(cluster.ReadRequired(pr),
            pr.GetValue(node) ?? CheckNode(Environment.GetEnvironmentVariable("NODE_NAME") is { Length: > 0 } n ? n : Environment.MachineName),
            pr.GetValue(gpu), pr.GetValue(workDir), pr.GetValue(keep), pr.GetValue(python), pr.GetValue(probePath),
            TimeSpan.FromSeconds(pr.GetValue(heartbeat)), Policy(pr.GetValue(workloads), pr.GetValue(anyCommand))), stdout, stderr, ct));
        return command;
    }

    /// <summary>What this node runs: its workload file's workloads, and any command only when told so.</summary>
    static JobPolicy Policy(string? workloads, bool anyCommand)
    {
        if (workloads is null && !anyCommand)
            throw new UsageException("worker needs --workloads <file> (the workloads this node runs) or --allow-any-command (a single-user machine)");
        try
        {
            return new JobPolicy(workloads is null ? new Dictionary<string, Workload>() : WorkloadFile.Load(workloads), anyCommand);
        }
        catch (CaptureException e)
        {
            throw new UsageException(e.Message);
        }
    }

    static string CheckNode(string node) =>
        string.IsNullOrWhiteSpace(node) || node.Contains('/')
            ? throw new UsageException($"--node: '{node}' is not a node name (non-empty, no '/')")
            : node;

    internal static async Task<int> RunAsync(Arguments a, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var workDir = Path.GetFullPath(a.WorkDir ?? Path.Combine(Path.GetTempPath(), "magneton-worker"));
        try
        {
            Directory.CreateDirectory(workDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--work-dir: cannot create {workDir}: {Program.OneLine(e.Message)}");
        }

        NvmlSession nvml;
        try
        {
            nvml = NvmlSession.Open();
        }
        catch (NvmlException e)
        {
            return await PowerCommand.NvmlErrorAsync(e, stderr).ConfigureAwait(false);
        }
        using (nvml)
        {
            var (devices, skippedDevices) = CaptureCommand.SampledGpus(nvml, a.Gpu);
            foreach (var skipped in skippedDevices)
                await stderr.WriteLineAsync($"magneton worker: GPU {skipped.Index} ({skipped.Name}) has no energy counter: not used").ConfigureAwait(false);
            var options = new CaptureWorkerOptions
            {
                Node = a.Node, WorkDir = workDir, Heartbeat = a.Heartbeat, KeepBundles = a.KeepBundles,
                Python = a.Python, ProbePath = a.ProbePath, Policy = a.Policy,
            };
            using var stop = new StopSignals(ct);
            await using var connection = await ClusterConnection.ConnectAsync(a.Cluster, stop.Token).ConfigureAwait(false);
            using var logs = LoggerFactory.Create(b =>
            {
                b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
                b.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            });
            var log = logs.CreateLogger("Magneton.Worker");

            var workers = devices.Select(d => new CaptureWorker(connection.Client, Slot(nvml, d, a.Node), options, stderr, log)).ToList();
            var runs = workers.Select(w => w.RunAsync(stop.Token)).ToList();
            await stdout.WriteLineAsync(
                $"{ReadyPrefix} node={a.Node} workers={string.Join(',', workers.Select(w => w.WorkerId))} cluster={a.Cluster} work-dir={workDir} "
                + $"workloads={(a.Policy.Workloads.Count == 0 ? "none" : string.Join(',', a.Policy.Workloads.Order(StringComparer.Ordinal)))}"
                + (a.Policy.AllowAnyCommand ? " any-command" : ""))
                .ConfigureAwait(false);
            await stdout.FlushAsync(CancellationToken.None).ConfigureAwait(false);

            var totals = await Task.WhenAll(runs).ConfigureAwait(false);
            await stdout.WriteLineAsync($"magneton worker: stopped node={a.Node} done={totals.Sum(t => t.Done)} failed={totals.Sum(t => t.Failed)} "
                + $"handed-back={totals.Sum(t => t.Released)}").ConfigureAwait(false);
        }
        return Program.Ok;
    }

    /// <summary>The bundles record the worker's node name as their host: the name audits and jobs know the node by.</summary>
    static WorkerSlot Slot(NvmlSession nvml, GpuDevice d, string nodeName)
    {
        var node = CaptureRunner.NodeInfo.Of(d) with { Host = nodeName };
        return new WorkerSlot(new WorkerGpu(d.Index, d.Name, d.Uuid, d.Driver, node.PowerLimitW ?? 0), node,
            () => new PowerCaptureSampler(nvml.Counter(d.Index)));
    }

    internal sealed record Arguments(ClusterTarget Cluster, string Node, int? Gpu, string? WorkDir, bool KeepBundles, string? Python,
        string? ProbePath, TimeSpan Heartbeat, JobPolicy Policy);
}
