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

    public const string Help = """
        magneton worker --cluster <h:p> [options]

        A GPU worker: registers this node's GPUs with the cluster (node, GPUs, driver, free/busy), runs the capture
        jobs given to it (magneton submit) under the probe while sampling NVML, uploads each bundle and reports its
        run id. One job at a time per GPU. Prints one line on stdout once registered:
          magneton worker: ready node=<node> workers=<node>/gpu<i>,... cluster=<h:p> work-dir=<dir>
        logs to stderr, and on SIGTERM stops the running capture, hands its job back to the queue and exits 0.

        Runs only what this node allows: the named workloads of --workloads (magneton submit --workload NAME, with
        the arguments each declares), and arbitrary Python commands only with --allow-any-command. Anything else
        fails its job with the reason, and nothing runs. Jobs start from a minimal environment (PATH, HOME, CUDA
        and Python variables), not the worker's.

        options:
          --cluster <h:p>       the cluster's gateway(s) (required)
          --workloads <file>    the workloads this node runs (JSON, see README "GPU workers")
          --allow-any-command   also run any Python command a submitter sends (a single-user machine only)
          --node <name>         node name jobs are addressed to (default $NODE_NAME, else the host name)
          --gpu <n>|all         the GPU(s) to work with, by NVML index (default all)
          --work-dir <dir>      current directory of the captures and where bundles are written
                                (default $TMPDIR/magneton-worker)
          --keep-bundles        keep uploaded bundles in the work directory (failed captures are always kept)
          --python <path>       interpreter for `script.py` / `-m` commands (default: MAGNETON_PYTHON or python3)
          --probe-path <dir>    directory put on PYTHONPATH so magneton_probe imports without pip
                                (default: MAGNETON_PROBE_PATH)
          --heartbeat <s>       seconds between beats (default 2; the silo's --worker-timeout must be longer)

        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var a = Parse(args);
        if (a is null)
        {
            await stdout.WriteAsync(Help).ConfigureAwait(false);
            return Program.Ok;
        }
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

            var workers = devices.Select(d => new CaptureWorker(connection.Client, Slot(nvml, d), options, stderr, log)).ToList();
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

    static WorkerSlot Slot(NvmlSession nvml, GpuDevice d)
    {
        var node = CaptureRunner.NodeInfo.Of(d);
        return new WorkerSlot(new WorkerGpu(d.Index, d.Name, d.Uuid, d.Driver, node.PowerLimitW ?? 0), node,
            () => new PowerCaptureSampler(nvml.Counter(d.Index)));
    }

    internal sealed record Arguments(string Cluster, string Node, int? Gpu, string? WorkDir, bool KeepBundles, string? Python,
        string? ProbePath, TimeSpan Heartbeat, JobPolicy Policy);

    /// <summary>The arguments, or null for --help.</summary>
    internal static Arguments? Parse(string[] args)
    {
        string? cluster = null, node = null, workDir = null, python = null, probePath = null, workloads = null;
        int? gpu = null;
        bool keep = false, anyCommand = false;
        var heartbeat = TimeSpan.FromSeconds(2);
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-h" or "--help":
                    return null;
                case "--cluster":
                    cluster = CaptureCommand.Value(args, ref i);
                    break;
                case "--node":
                    node = CaptureCommand.Value(args, ref i);
                    break;
                case "--gpu":
                    var v = CaptureCommand.Value(args, ref i);
                    gpu = v == "all" ? null : CaptureCommand.NonNegative("--gpu", v);
                    break;
                case "--work-dir":
                    workDir = CaptureCommand.Value(args, ref i);
                    break;
                case "--keep-bundles":
                    keep = true;
                    break;
                case "--workloads":
                    workloads = CaptureCommand.Value(args, ref i);
                    break;
                case "--allow-any-command":
                    anyCommand = true;
                    break;
                case "--python":
                    python = CaptureCommand.Value(args, ref i);
                    break;
                case "--probe-path":
                    probePath = CaptureCommand.Value(args, ref i);
                    break;
                case "--heartbeat":
                    var s = CaptureCommand.Value(args, ref i);
                    if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds is not (> 0 and <= 60))
                        throw new UsageException($"option --heartbeat needs a number of seconds in (0, 60], got '{s}'");
                    heartbeat = TimeSpan.FromSeconds(seconds);
                    break;
                default:
                    throw new UsageException(args[i].StartsWith('-')
                        ? $"unknown option '{args[i]}' for worker (see magneton worker --help)"
                        : $"unexpected argument '{args[i]}': worker takes only options (see magneton worker --help)");
            }
        }
        if (cluster is null) throw new UsageException("worker needs --cluster <host:port> (the cluster's gateway)");
        ClusterEndpoints.Parse(cluster);
        node ??= Environment.GetEnvironmentVariable("NODE_NAME") is { Length: > 0 } n ? n : Environment.MachineName;
        if (string.IsNullOrWhiteSpace(node) || node.Contains('/'))
            throw new UsageException($"--node: '{node}' is not a node name (non-empty, no '/')");
        if (workloads is null && !anyCommand)
            throw new UsageException("worker needs --workloads <file> (the workloads this node runs) or --allow-any-command (a single-user machine)");
        IReadOnlyDictionary<string, Workload> allowed = new Dictionary<string, Workload>();
        try
        {
            if (workloads is not null) allowed = WorkloadFile.Load(workloads);
        }
        catch (CaptureException e)
        {
            throw new UsageException(e.Message);
        }
        return new Arguments(cluster, node, gpu, workDir, keep, python, probePath, heartbeat, new JobPolicy(allowed, anyCommand));
    }
}
