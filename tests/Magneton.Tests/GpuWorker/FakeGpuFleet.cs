using Magneton.Client;
using Magneton.Grains;
using Magneton.Tests.Infrastructure;

namespace Magneton.Tests.GpuWorker;

/// <summary>
/// A localhost cluster of fake GPU nodes: one <c>magneton silo</c> process and, per node, a <c>magneton worker</c>
/// process on the NVML test double (fake_nvml.c, GPU 0) with its own workload file. The probe is the stand-in
/// (probe_stand_in.sh: the probe's synthetic bundle, finalized by the real probe), unless a node is given another
/// interpreter. Needs gcc and python3 (<see cref="WorkerFactAttribute"/>).
/// </summary>
public sealed class FakeGpuFleet : IAsyncDisposable
{
    /// <summary>The stand-in's job, with the arguments the fleet tests declare.</summary>
    public const string Args = """["--activation=gelu_new|gelu_pytorch_tanh", "--slow"]""";

    /// <summary>A node's workload file: workload <paramref name="name"/> runs job.py with <paramref name="fixedArgs"/> first.</summary>
    public static string WorkloadFile(string name = "synth", string fixedArgs = "") =>
        "{\"workloads\": {\"" + name + "\": {\"command\": [\"job.py\"" + (fixedArgs.Length == 0 ? "" : ", " + fixedArgs) + "], \"args\": " + Args + "}}}";

    readonly FakeNvml _nvml = new();
    readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("magneton-fleet-test-");
    readonly Dictionary<string, MagnetonProcess> _workers = new(StringComparer.Ordinal);
    MagnetonProcess? _silo;

    public string Cluster => $"127.0.0.1:{_silo!.GatewayEndpoint.Port}";
    public string Root => _root.FullName;
    string StandIn => Path.Combine(_root.FullName, "probe-stand-in");

    public async Task StartAsync()
    {
        File.Copy(Path.Combine(Path.GetDirectoryName(GpuTestPaths.FakeNvmlSource)!, "probe_stand_in.sh"), StandIn);
        File.SetUnixFileMode(StandIn, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        _silo = await MagnetonProcess.StartOnFreePortsAsync((_, _) =>
            ["--storage-dir", Path.Combine(_root.FullName, "store"), "--worker-timeout", "5"]);
    }

    /// <summary>Starts (or restarts, with another workload file) the worker of a node and waits until the cluster sees it alive.</summary>
    public async Task StartNodeAsync(string node, string workloads, string? python = null)
    {
        await StopNodeAsync(node);
        var file = Path.Combine(_root.FullName, $"workloads-{node}-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, workloads);
        var environment = new Dictionary<string, string?>
        {
            ["LD_LIBRARY_PATH"] = _nvml.Directory,
            ["MAGNETON_PROBE_PATH"] = ProbePython.ProbeDir,
            ["PYTHONDONTWRITEBYTECODE"] = "1",
        };
        _workers[node] = await MagnetonProcess.StartWorkerAsync(
            ["--cluster", Cluster, "--node", node, "--gpu", "0", "--work-dir", Path.Combine(_root.FullName, "work-" + node),
             "--python", python ?? StandIn, "--heartbeat", "0.3", "--workloads", file],
            environment);
        await using var connection = await ClusterConnection.ConnectAsync(Cluster);
        await Until.HoldsAsync(() => connection.Client.GetGrain<ICaptureSchedulerGrain>(CaptureWorker.Scheduler).Workers(),
            ws => ws.Any(w => w.Alive && w.Info.Node == node && w.Info.RunningJob is null), TimeSpan.FromSeconds(60), $"worker of {node} alive");
    }

    /// <summary>
    /// Stops a node's worker (SIGTERM). The cluster counts it alive until its timeout; a worker started for the node
    /// meanwhile takes over its id, so jobs pinned to it wait for the new one.
    /// </summary>
    public async Task StopNodeAsync(string node)
    {
        if (!_workers.Remove(node, out var worker)) return;
        await worker.StopAsync();
        await worker.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var w in _workers.Values) await w.DisposeAsync();
        if (_silo is not null) await _silo.DisposeAsync();
        _nvml.Dispose();
        try { _root.Delete(recursive: true); } catch (IOException) { }
    }
}
