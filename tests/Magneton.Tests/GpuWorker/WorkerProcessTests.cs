using System.Diagnostics;
using System.Text.Json;
using Magneton.Client;
using Magneton.Grains;
using Magneton.Tests.Cluster;
using Magneton.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.GpuWorker;

/// <summary>
/// <c>magneton worker</c> as a process against a <c>magneton silo</c> process: jobs submitted with
/// <c>magneton submit</c> run on the worker, their bundles reach the cluster and compare; a stopped worker hands its
/// job back, a lost one has it reassigned. The GPU is the NVML test double (fake_nvml.c, loaded by the worker
/// through LD_LIBRARY_PATH) and the probe a stand-in interpreter (probe_stand_in.sh) that writes the probe's
/// synthetic bundle, finalized by the real probe; everything between them is the real worker.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class WorkerProcessTests : IAsyncLifetime
{
    readonly ITestOutputHelper _output;
    readonly FakeNvml _nvml = new();
    readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("magneton-worker-test-");
    MagnetonProcess? _silo;

    public WorkerProcessTests(ITestOutputHelper output) => _output = output;

    string Cluster => $"127.0.0.1:{_silo!.GatewayEndpoint.Port}";
    string StandIn => Path.Combine(_root.FullName, "probe-stand-in");
    string Workloads => Path.Combine(_root.FullName, "workloads.json");

    /// <summary>The node's one workload: the stand-in's job with the arguments these tests use, and a setting of its own.</summary>
    const string WorkloadFileText = """
        {"workloads": {"synth": {"command": ["job.py"], "env": {"SYNTH_SETTING": "from-workload"},
          "args": ["--activation=gelu_new|gelu_pytorch_tanh", "--fail", "--hang-while=/.*", "--dump-env=/.*"]}}}
        """;

    public async Task InitializeAsync()
    {
        if (FakeNvml.Gcc is null || ProbePython.Executable is null) return; // the facts are skipped
        File.Copy(Path.Combine(Path.GetDirectoryName(GpuTestPaths.FakeNvmlSource)!, "probe_stand_in.sh"), StandIn);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(StandIn, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.WriteAllText(Workloads, WorkloadFileText);
        // A worker silent for 3 s is lost: the reassignment test waits for that, not for the default 15 s.
        _silo = await MagnetonProcess.StartOnFreePortsAsync((_, _) =>
            ["--storage-dir", Path.Combine(_root.FullName, "store"), "--worker-timeout", "3"]);
    }

    public async Task DisposeAsync()
    {
        if (_silo is not null) await _silo.DisposeAsync();
        _nvml.Dispose();
        try { _root.Delete(recursive: true); } catch (IOException) { }
    }

    /// <summary>A worker of the node; <paramref name="allowed"/>: what it runs (default: the workload file).</summary>
    Task<MagnetonProcess> StartWorkerAsync(string node, string workDir, string[]? allowed = null,
        IReadOnlyDictionary<string, string?>? env = null)
    {
        var environment = new Dictionary<string, string?>
        {
            ["LD_LIBRARY_PATH"] = _nvml.Directory,
            ["MAGNETON_PROBE_PATH"] = ProbePython.ProbeDir,
            ["PYTHONDONTWRITEBYTECODE"] = "1",
        };
        foreach (var (k, v) in env ?? new Dictionary<string, string?>()) environment[k] = v;
        return MagnetonProcess.StartWorkerAsync(
            ["--cluster", Cluster, "--node", node, "--gpu", "0", "--work-dir", workDir, "--python", StandIn, "--heartbeat", "0.3",
             .. allowed ?? ["--workloads", Workloads]],
            environment);
    }

    async Task<CaptureJob> WaitForAsync(ICaptureSchedulerGrain scheduler, string jobId, Func<CaptureJob, bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var job = await scheduler.GetJob(jobId);
            if (condition(job)) return job;
            if (sw.Elapsed > TimeSpan.FromSeconds(30))
                throw new Xunit.Sdk.XunitException($"{jobId} did not become {what} within 30 s: {job}");
            await Task.Delay(100);
        }
    }

    [WorkerFact]
    public async Task Submitted_captures_run_on_the_worker_and_their_runs_compare_with_the_finding()
    {
        var workDir = Path.Combine(_root.FullName, "work");
        await using var worker = await StartWorkerAsync("gpu-node-1", workDir);
        _output.WriteLine(worker.ReadyLine);
        Assert.Contains("workers=gpu-node-1/gpu0 ", worker.ReadyLine);
        Assert.EndsWith(" workloads=synth", worker.ReadyLine);

        var a = await CliRunner.Run("submit", "--cluster", Cluster, "--system", "synth-gelu-new", "--workload", "synth", "--wait",
            "--", "--activation", "gelu_new");
        _output.WriteLine(a.Err);
        Assert.Equal(0, a.Code);
        var b = await CliRunner.Run("submit", "--cluster", Cluster, "--system", "synth-gelu-tanh", "--node", "gpu-node-1",
            "--replay-repeat", "1", "--workload", "synth", "--wait", "--", "--activation=gelu_pytorch_tanh");
        Assert.Equal(0, b.Code);
        string runA = a.Out.Trim(), runB = b.Out.Trim();
        // Printed as typed: run:<16 hex digits of the run id "run-...">.
        Assert.Matches("^run:[0-9a-f]{16}$", runA);
        Assert.Matches("^run:[0-9a-f]{16}$", runB);
        Assert.NotEqual(runA, runB);
        Assert.Contains("done on gpu-node-1/gpu0 (attempt 1)", a.Err);

        // The runs carry the worker's GPU as NVML reported it (fake GPU 0: 650 W enforced limit).
        await using var connection = await ClusterConnection.ConnectAsync(Cluster);
        var summary = await connection.Client.GetGrain<IRunGrain>("run-" + runA["run:".Length..]).GetSummary();
        Assert.Equal("synth-gelu-new", summary.System);
        Assert.Equal("580.159.04-fake", summary.Driver);
        Assert.Equal(650, summary.PowerLimitW);

        // The pair compares on the cluster like two local captures: gelu_new's unfused activation is the waste.
        var compare = await CliRunner.Run("compare", "--cluster", Cluster, runA, runB, "--json", "-");
        Assert.Equal(0, compare.Code);
        using var report = JsonDocument.Parse(compare.Out);
        var finding = Assert.Single(report.RootElement.GetProperty("findings").EnumerateArray());
        Assert.Equal("waste", finding.GetProperty("verdict").GetString());
        Assert.Equal("a", finding.GetProperty("wasteful").GetString());
        var config = Assert.Single(finding.GetProperty("cause").GetProperty("config").EnumerateArray());
        Assert.Equal("activation_function", config.GetProperty("key").GetString());

        // The worker lists itself and both jobs; uploaded bundles are not kept on the node.
        var listed = await CliRunner.Run("workers", "--cluster", Cluster, "--json");
        using var workers = JsonDocument.Parse(listed.Out);
        var self = Assert.Single(workers.RootElement.GetProperty("workers").EnumerateArray());
        Assert.Equal("gpu-node-1/gpu0", self.GetProperty("worker").GetString());
        Assert.True(self.GetProperty("alive").GetBoolean());
        Assert.Equal("NVIDIA H100 80GB HBM3 (fake 0)", self.GetProperty("gpus")[0].GetProperty("name").GetString());
        var jobs = workers.RootElement.GetProperty("jobs").EnumerateArray().ToList();
        Assert.Equal(2, jobs.Count);
        Assert.All(jobs, j => Assert.Equal("done", j.GetProperty("state").GetString()));
        // Nobody is identified on a cluster without TLS, so no listing shows a job's arguments.
        Assert.All(jobs, j => Assert.True(j.GetProperty("arguments_hidden").GetBoolean()));
        Assert.All(jobs, j => Assert.Empty(j.GetProperty("arguments").EnumerateArray()));
        Assert.All(jobs, j => Assert.Equal("synth", j.GetProperty("workload").GetString()));
        Assert.Equal([runA, runB], jobs.Select(j => "run:" + j.GetProperty("run_id").GetString()!["run-".Length..]));
        Assert.Empty(Directory.GetDirectories(Path.Combine(workDir, "captures")));

        Assert.Equal(0, await worker.StopAsync());
        Assert.Contains(worker.StdoutLines, l => l.StartsWith("magneton worker: stopped node=gpu-node-1 done=2 failed=0", StringComparison.Ordinal));
    }

    [WorkerFact]
    public async Task A_capture_that_fails_fails_its_job_with_the_jobs_last_words()
    {
        var workDir = Path.Combine(_root.FullName, "work");
        await using var worker = await StartWorkerAsync("gpu-node-1", workDir);

        var r = await CliRunner.Run("submit", "--cluster", Cluster, "--system", "oom", "--workload", "synth", "--wait", "--", "--fail");
        _output.WriteLine(r.Err);
        Assert.Equal(SubmitCommand.CaptureFailed, r.Code);
        Assert.Equal("", r.Out);
        Assert.Contains("failed: the probe exited with code 1", r.Err);
        Assert.Contains("last error output: job.py: CUDA out of memory", r.Err);
        // The failed capture's directory stays on the node for whoever debugs it (the NVML samples are in it).
        var kept = Assert.Single(Directory.GetDirectories(Path.Combine(workDir, "captures")));
        Assert.True(File.Exists(Path.Combine(kept, "samples.csv")));
        Assert.False(worker.HasExited);
    }

    [WorkerFact]
    public async Task A_stopped_worker_hands_its_job_back_and_a_lost_workers_job_goes_to_the_next_one()
    {
        var hold = Path.Combine(_root.FullName, "hold");
        File.WriteAllText(hold, "");
        await using var connection = await ClusterConnection.ConnectAsync(Cluster);
        var scheduler = connection.Client.GetGrain<ICaptureSchedulerGrain>(CaptureWorker.Scheduler);
        // A command, not a workload: these workers are started with --allow-any-command (a single-user machine).
        var submitted = await CliRunner.Run("submit", "--cluster", Cluster, "--system", "held", "--node", "gpu-node-2",
            "--", "job.py", "--hang-while", hold);
        Assert.Equal(0, submitted.Code);
        string jobId = submitted.Out.Trim();

        // SIGTERM while the capture runs: the capture is stopped and the job queued again at once, attempt not counted.
        await using var first = await StartWorkerAsync("gpu-node-2", Path.Combine(_root.FullName, "w1"), AnyCommand);
        await WaitForAsync(scheduler, jobId, j => j.State == CaptureState.Running && j.Progress?.Contains("running until") == true, "running");
        var sw = Stopwatch.StartNew();
        Assert.Equal(0, await first.StopAsync());
        var released = await scheduler.GetJob(jobId);
        _output.WriteLine($"released in {sw.Elapsed.TotalSeconds:0.0} s: {released}");
        Assert.Equal(CaptureState.Queued, released.State);
        Assert.Equal(0, released.Attempts);
        Assert.Equal("requeued: worker gpu-node-2/gpu0 stopped", released.Progress);
        Assert.Contains(first.StdoutLines, l => l.Contains("handed-back=1"));

        // SIGKILL: nobody hands the job back; after the silo's worker timeout (3 s) it is queued again.
        await using var second = await StartWorkerAsync("gpu-node-2", Path.Combine(_root.FullName, "w2"), AnyCommand);
        await WaitForAsync(scheduler, jobId, j => j.State == CaptureState.Running && j.Progress?.Contains("running until") == true, "running again");
        second.Kill();
        var lost = await WaitForAsync(scheduler, jobId, j => j.State == CaptureState.Queued, "queued after the worker was lost");
        Assert.Equal("requeued: worker gpu-node-2/gpu0 lost", lost.Progress);
        Assert.Equal(1, lost.Attempts);

        // The next worker of that node finishes it.
        File.Delete(hold);
        await using var third = await StartWorkerAsync("gpu-node-2", Path.Combine(_root.FullName, "w3"), AnyCommand);
        var done = await WaitForAsync(scheduler, jobId, j => j.State is CaptureState.Done or CaptureState.Failed, "finished");
        Assert.True(done.State == CaptureState.Done, done.ToString());
        Assert.Equal(2, done.Attempts);
        Assert.Equal("gpu-node-2/gpu0", done.Worker);
        Assert.NotNull(await connection.Client.GetGrain<IRunGrain>(done.RunId!).GetManifest());
    }

    static readonly string[] AnyCommand = ["--allow-any-command"];

    [WorkerFact]
    public async Task A_job_the_node_does_not_allow_is_refused_with_the_reason_and_nothing_runs()
    {
        var workDir = Path.Combine(_root.FullName, "work");
        var marker = Path.Combine(_root.FullName, "side-effect");
        await using var worker = await StartWorkerAsync("gpu-node-1", workDir);

        // An argument the workload does not declare; a value outside its pattern; a workload the node lacks; a
        // command on a worker without --allow-any-command (the python -c bypass of the old check included).
        (string[] Submit, string Reason)[] refused =
        [
            (["--workload", "synth", "--", "--touch", marker], "argument '--touch' is not declared by workload synth"),
            (["--workload", "synth", "--", "--activation", "relu"], "argument --activation of workload synth: 'relu' does not match gelu_new|gelu_pytorch_tanh"),
            (["--workload", "other"], "workload other is not allowed on this node (allowed: synth)"),
            (["--", "job.py", "--touch", marker], "this node runs only the workloads of its workload file"),
            (["--", "python3", "-cimport os; os.system('touch " + marker + "')", "job.py"], "not started with --allow-any-command"),
        ];
        foreach (var (submit, reason) in refused)
        {
            var r = await CliRunner.Run(["submit", "--cluster", Cluster, "--system", "refused", "--node", "gpu-node-1", "--wait", .. submit]);
            _output.WriteLine(r.Err);
            Assert.Equal(SubmitCommand.CaptureFailed, r.Code);
            Assert.Contains("failed: refused by gpu-node-1/gpu0: ", r.Err);
            Assert.Contains(reason, r.Err);
        }
        Assert.False(File.Exists(marker));
        Assert.False(Directory.Exists(Path.Combine(workDir, "captures")), "a refused job starts no capture");
        Assert.Contains(worker.StdoutLines, l => l.StartsWith("magneton worker: ready", StringComparison.Ordinal));
        Assert.False(worker.HasExited);
    }

    [WorkerFact]
    public async Task A_job_starts_from_the_nodes_minimal_environment_and_its_workloads_settings_not_the_workers()
    {
        var dump = Path.Combine(_root.FullName, "job-env.txt");
        await using var worker = await StartWorkerAsync("gpu-node-1", Path.Combine(_root.FullName, "work"), env: new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_HEADERS"] = "authorization=Bearer worker-secret",
            ["AWS_SECRET_ACCESS_KEY"] = "worker-secret",
            ["MAGNETON_BLOB_CONNECTION"] = "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=worker-secret",
        });
        var r = await CliRunner.Run("submit", "--cluster", Cluster, "--system", "env", "--workload", "synth", "--wait", "--", "--dump-env", dump);
        Assert.Equal(0, r.Code);
        var env = File.ReadAllLines(dump).Where(l => l.Contains('=')).ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..]);
        Assert.DoesNotContain(env, kv => kv.Value.Contains("worker-secret"));
        Assert.DoesNotContain("MAGNETON_BLOB_CONNECTION", env.Keys);
        Assert.Equal("from-workload", env["SYNTH_SETTING"]);
        Assert.Equal("GPU-fa4e0000-0000-4000-8000-000000000000", env["CUDA_VISIBLE_DEVICES"]); // pinned to the sampled GPU
        Assert.True(env.ContainsKey("PATH"));
        Assert.Equal("external", env["MAGNETON_SAMPLER"]);
    }

    [GccFact]
    public async Task A_worker_whose_driver_is_not_loaded_exits_2_with_one_line()
    {
        var r = await _nvml.RunMagnetonAsync(new Dictionary<string, string> { ["FAKE_NVML_INIT"] = "9" },
            "worker", "--cluster", "127.0.0.1:1", "--allow-any-command");
        Assert.Equal(2, r.Code);
        var line = Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("magneton: error: ", line);
        Assert.Contains("NVML", line);
    }
}

/// <summary>A fact that needs both gcc (the NVML test double) and python3 (the probe's finalize).</summary>
public sealed class WorkerFactAttribute : FactAttribute
{
    public WorkerFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "the NVML test double is a Linux shared library";
        else if (FakeNvml.Gcc is null) Skip = "gcc is not on PATH: the NVML test double (fake_nvml.c) cannot be built";
        else if (ProbePython.Executable is null) Skip = "python3 is not on PATH: the probe stand-in runs the real probe's finalize";
    }
}

/// <summary>The worker's and submit's command lines: refused with one line before NVML or a cluster is touched.</summary>
public sealed class WorkerCommandLineTests
{
    [Theory]
    [InlineData(new[] { "worker" }, "--cluster")]
    [InlineData(new[] { "worker", "--cluster", "127.0.0.1:1", "--gpu", "x" }, "--gpu")]
    [InlineData(new[] { "worker", "--cluster", "127.0.0.1:1", "--heartbeat", "0" }, "--heartbeat")]
    [InlineData(new[] { "worker", "--cluster", "127.0.0.1:1", "--node", "a/b" }, "--node")]
    [InlineData(new[] { "worker", "--cluster", "nohostport" }, "nohostport")]
    [InlineData(new[] { "worker", "--cluster", "127.0.0.1:1", "extra" }, "takes only options")]
    [InlineData(new[] { "worker", "--cluster", "127.0.0.1:1" }, "--workloads <file>")]
    [InlineData(new[] { "worker", "--cluster", "127.0.0.1:1", "--workloads", "/nonexistent/w.json" }, "/nonexistent/w.json: cannot read")]
    [InlineData(new[] { "submit", "--system", "s", "--", "a.py" }, "--cluster")]
    [InlineData(new[] { "submit", "--cluster", "127.0.0.1:1", "--", "a.py" }, "--system")]
    [InlineData(new[] { "submit", "--cluster", "127.0.0.1:1", "--system", "s" }, "command after --")]
    [InlineData(new[] { "submit", "--cluster", "127.0.0.1:1", "--system", "s", "--", "ls", "-l" }, "not a Python command")]
    [InlineData(new[] { "submit", "--cluster", "127.0.0.1:1", "--system", "s", "--iterations", "-1", "--", "a.py" }, "--iterations")]
    [InlineData(new[] { "submit", "--cluster", "127.0.0.1:1", "--system", "s", "a.py" }, "goes after --")]
    [InlineData(new[] { "workers" }, "--cluster")]
    [InlineData(new[] { "workers", "--cluster", "127.0.0.1:1", "--bogus" }, "--bogus")]
    public async Task Bad_worker_and_submit_command_lines_are_one_line_errors(string[] args, string message) =>
        CliRunner.AssertOneLineError(await CliRunner.Run(args), message);

    [Fact]
    public async Task Submit_to_a_cluster_that_does_not_answer_is_one_line()
    {
        var r = await CliRunner.Run("submit", "--cluster", "127.0.0.1:1", "--system", "s", "--", "python3", "job.py");
        CliRunner.AssertOneLineError(r, "--cluster 127.0.0.1:1: no Magneton cluster answered");
    }
}
