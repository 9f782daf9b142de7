using System.Text.Json;
using Magneton.Client;
using Magneton.Core;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.GpuWorker.Capture;
using Magneton.GpuWorker.Sampling;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.GpuWorker;

/// <summary>
/// Cross-language checks without torch or a GPU: bundles written by the probe's own writers (the synthetic capture,
/// the alignment and mg# ranges, finalize) are read by Core's BundleReader and ingested by the pipeline.
/// </summary>
public sealed class ProbeBundleTests(ProbeBundleTests.SyntheticPair pair, ITestOutputHelper output)
    : IClassFixture<ProbeBundleTests.SyntheticPair>
{
    /// <summary>Two synthetic bundles (gelu_new and the fused tanh gelu), written once per class by python3.</summary>
    public sealed class SyntheticPair : IDisposable
    {
        public string Root { get; } = Path.Combine(Path.GetTempPath(), "magneton-probe-bundles-" + Guid.NewGuid().ToString("N"));
        public string A => Path.Combine(Root, "A");
        public string B => Path.Combine(Root, "B");
        public string? Error { get; }

        public SyntheticPair()
        {
            if (ProbePython.Executable is null) return;
            Directory.CreateDirectory(Root);
            foreach (var (dir, act) in new[] { (A, "gelu_new"), (B, "gelu_pytorch_tanh") })
            {
                var r = ProbePython.RunAsync(["-m", "magneton_probe", "synthetic", dir, "--activation", act], ProbePython.Deadline)
                    .GetAwaiter().GetResult();
                if (r.Code != 0) Error = $"synthetic {act} exited {r.Code}: {r.Err}";
            }
        }

        public void Dispose()
        {
            try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
        }
    }

    void RequireBundles() => Assert.True(pair.Error is null, pair.Error);

    [PythonFact]
    public void Synthetic_bundles_pass_the_readers()
    {
        RequireBundles();
        var a = BundleReader.Read(pair.A);
        Assert.Equal("synthetic-mlp-gelu_new", a.Dataflow.System);
        Assert.Equal(24, a.Dataflow.Nodes.Count);
        // The detach the profiler never saw has no trace_id; every other node has one, numbered in node order.
        var detach = Assert.Single(a.Dataflow.Nodes, n => n.Op == "aten.detach.default");
        Assert.Null(detach.TraceId);
        Assert.Equal(Enumerable.Range(0, 23), a.Dataflow.Nodes.Where(n => n.TraceId is not null).Select(n => n.TraceId!.Value));
        Assert.Equal(5, a.Kineto.Iterations);
        Assert.Equal(23, a.Kineto.Operators.Count);
        Assert.Equal("Synthetic GPU", a.Kineto.DeviceName);
        Assert.NotNull(a.Kineto.SyncBeginTs);
        Assert.NotNull(a.Replay);
        Assert.NotNull(a.ReplayCounter);
        Assert.NotNull(a.BaselinePower);
        Assert.NotNull(a.Context);
        Assert.Equal("synthetic.NewGELUActivation", a.Context!.Modules["h.0.act"]);
        Assert.Equal("1", a.Context.ModelConfig["nested.inner.leaf"]);
        Assert.Equal(260.0 * 2, a.Measure.Baseline.EnergyCounterJ, 1e-6);
    }

    [PythonFact]
    public void Kernels_are_attributed_through_the_post_hoc_ranges()
    {
        RequireBundles();
        var a = BundleReader.Read(pair.A);
        var byTrace = a.Dataflow.Nodes.Where(n => n.TraceId is not null).ToDictionary(n => n.TraceId!.Value);
        foreach (var (traceId, op) in a.Kineto.Operators)
        {
            var node = byTrace[traceId];
            Assert.Equal(node.Op, op.Op);
            Assert.Equal(5, op.Occurrences);
            if (node.View)
            {
                Assert.Empty(op.Kernels);
                continue;
            }
            // Each non-view op launched one kernel per iteration, named after its aten op (addmm under aten::linear).
            var kernel = Assert.Single(op.Kernels);
            Assert.Equal($"synthetic_{node.Op.Split('.')[1]}_kernel", kernel.Name);
            Assert.Equal(5, kernel.Count);
        }
    }

    [PythonFact]
    public void Synthetic_pair_ingests_and_compares()
    {
        RequireBundles();
        var a = Pipeline.Ingest(pair.A);
        var b = Pipeline.Ingest(pair.B);
        Assert.True(a.Operators.Length > 0);
        Assert.True(b.Operators.Length > 0);
        Assert.Contains(a.Operators, o => o.Source == Magneton.Core.Runs.EnergySource.ReplayOp && o.GpuSeconds > 0);
        Assert.All(a.Operators.Where(o => o.GpuSeconds > 0), o => Assert.True(o.PowerW > 0));
        var report = Pipeline.Compare(a, b, new CompareOptions());
        output.WriteLine(JsonSerializer.Serialize(report.Findings));
        // The same values on both sides: the activation regions match, eight elementwise ops against one fused gelu.
        var act = Assert.Single(report.Findings);
        Assert.Equal(Verdict.Waste, act.Verdict);
        Assert.Equal(Side.A, act.Wasteful);
        Assert.Equal(2, act.Instances);
    }

    /// <summary>
    /// The real H100 traces with their mg# ranges removed and put back by the probe's alignment (from the profiler's
    /// cpu_op events alone) attribute every kernel to the same operator as the reference's run-time ranges.
    /// </summary>
    [PythonFact]
    public async Task Post_hoc_ranges_on_a_real_trace_attribute_like_the_reference()
    {
        var source = GpuTestPaths.RepoRoot is { } root ? Path.Combine(root, "samples", "gpt2-gelu", "A-hf-gpt2-gelu_new") : null;
        Assert.True(Directory.Exists(source), "samples/gpt2-gelu is missing");
        var dir = Path.Combine(Path.GetTempPath(), "magneton-probe-rewrite-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            foreach (var f in Directory.GetFiles(source!)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            const string program = """
                import collections, gzip, json, os, sys
                from magneton_probe import align, bundle
                d = sys.argv[1]
                trace = bundle.read_trace(os.path.join(d, "kineto.json.gz"))
                nodes = bundle.read_json(os.path.join(d, "dataflow.json"))["nodes"]
                win = collections.defaultdict(lambda: [float("inf"), float("-inf")])
                for e in trace["traceEvents"]:
                    if e.get("cat") == "user_annotation" and e["name"].startswith("mg#"):
                        w = win[int(e["name"].split("#")[1])]
                        w[0], w[1] = min(w[0], e["ts"]), max(w[1], e["ts"] + e["dur"])
                trace["traceEvents"] = align.strip_ranges(trace["traceEvents"])
                mine = [dict(n) for n in nodes]
                r = align.rewrite_trace(trace, mine, sorted((k, a, b) for k, (a, b) in win.items()))
                assert [n["trace_id"] for n in mine] == [n["trace_id"] for n in nodes]
                bundle.write_trace(os.path.join(d, "kineto.json.gz"), trace)
                print(json.dumps(r.summary))
                """;
            var r = await ProbePython.RunAsync(["-c", program, dir], ProbePython.Deadline);
            Assert.True(r.Code == 0, $"rewrite exited {r.Code}: {r.Err}");
            output.WriteLine(r.Out);

            var reference = BundleReader.Read(source!).Kineto;
            var rewritten = BundleReader.Read(dir).Kineto;
            Assert.Equal(reference.Iterations, rewritten.Iterations);
            Assert.Equal(reference.Operators.Keys.Order(), rewritten.Operators.Keys.Order());
            foreach (var (id, op) in reference.Operators)
            {
                var mine = rewritten.Operators[id];
                Assert.Equal(op.Op, mine.Op);
                Assert.Equal(op.Occurrences, mine.Occurrences);
                Assert.Equal(op.GpuSecondsTotal, mine.GpuSecondsTotal, 1e-12);
                Assert.Equal(op.Kernels.Select(k => (k.Name, k.Count)), mine.Kernels.Select(k => (k.Name, k.Count)));
            }
            Assert.Equal(reference.GpuBusySeconds, rewritten.GpuBusySeconds, 1e-3);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}

/// <summary>
/// The capture orchestration (src/GpuWorker/Capture) without a GPU: a stand-in interpreter plays the probe (it writes
/// a raw synthetic bundle, energies unfilled, as the probe does under the worker), a stand-in sampler returns that
/// run's NVML samples, and the real finalize and BundleReader finish the job.
/// </summary>
public sealed class CaptureRunnerTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "magneton-capture-" + Guid.NewGuid().ToString("N"));

    public CaptureRunnerTests() => Directory.CreateDirectory(_root);

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    sealed class RecordedSampler(string csv) : ICaptureSampler
    {
        public bool Started { get; private set; }
        public void Start() => Started = true;
        public PowerSamples Stop() => PowerCsv.Read(csv);
        public void Dispose() { }
    }

    /// <summary>A "python" that writes a raw synthetic bundle for a capture and runs the real probe for finalize.</summary>
    string FakePython(string samples, int captureExit = 0)
    {
        var path = Path.Combine(_root, "python3-fake"); // a name capture takes for an interpreter
        var python = ProbePython.Executable!;
        File.WriteAllText(path, $$"""
            #!/bin/sh
            for a in "$@"; do [ "$a" = finalize ] && exec "{{python}}" "$@"; done
            [ "$MAGNETON_SAMPLER" = external ] || { echo "MAGNETON_SAMPLER is not external" >&2; exit 9; }
            out=""; prev=""
            for a in "$@"; do [ "$prev" = "--out" ] && out="$a"; prev="$a"; done
            echo "fake probe: $*"
            [ {{captureExit}} -eq 0 ] || exit {{captureExit}}
            exec "{{python}}" -m magneton_probe synthetic "$out" --raw --samples-out "{{samples}}"
            """.Replace("\r\n", "\n"));
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    CaptureOptions Options(string python, string outDir) => new()
    {
        System = "synthetic-capture",
        OutDir = outDir,
        Command = [python, "-u", "job.py", "--activation", "gelu_new"],
        ProbePath = ProbePython.ProbeDir,
        ProbeArguments = ["--replay-repeat", "1"],
    };

    [PythonFact]
    public async Task A_capture_finalizes_records_the_node_and_reads_back()
    {
        if (!OperatingSystem.IsLinux()) return;
        var samples = Path.Combine(_root, "recorded.csv");
        var outDir = Path.Combine(_root, "bundle");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var sampler = new RecordedSampler(samples);
        var node = new CaptureRunner.NodeInfo("host-1", "NVIDIA H100 80GB HBM3", "GPU-1", "580.159.04", 700);
        var result = await new CaptureRunner(stdout, stderr).RunAsync(Options(FakePython(samples), outDir), sampler, node);

        Assert.True(sampler.Started);
        Assert.Contains("fake probe: -u -m magneton_probe --out " + outDir + " --system synthetic-capture --replay-repeat 1 -- job.py --activation gelu_new",
            stdout.ToString());
        Assert.Equal(24, result.Operators);
        Assert.True(result.ReplayItems > 5);
        Assert.True(result.Samples > 1000);
        Assert.Equal(0.005, result.BaselineIterationSeconds, 1e-9);
        Assert.Equal(1.3, result.BaselineIterationEnergyJ, 1e-6);
        Assert.False(File.Exists(Path.Combine(outDir, CaptureRunner.SamplesFile)));

        var bundle = BundleReader.Read(outDir);
        Assert.Equal(new CaptureNode("host-1", "NVIDIA H100 80GB HBM3", "GPU-1", "580.159.04", 700), bundle.Measure.Node);
        Assert.All(bundle.Replay!.Items, i => Assert.True(i.PowerW > 0));
        Assert.Equal(90.0, bundle.Replay.Idle!.PowerW!.Value, 1e-6);
    }

    [PythonFact]
    public async Task A_probe_that_fails_keeps_the_samples_and_keeps_its_exit_code()
    {
        if (!OperatingSystem.IsLinux()) return;
        var samples = Path.Combine(_root, "recorded.csv");
        File.WriteAllText(samples, PowerCsv.Header + "\n1,2,3,4\n");
        var outDir = Path.Combine(_root, "bundle");
        var e = await Assert.ThrowsAsync<CaptureException>(() =>
            new CaptureRunner(TextWriter.Null, TextWriter.Null).RunAsync(Options(FakePython(samples, captureExit: 2), outDir),
                new RecordedSampler(samples)));
        Assert.Equal(2, e.ExitCode);
        Assert.Contains("exited with code 2", e.Message);
        Assert.True(File.Exists(Path.Combine(outDir, CaptureRunner.SamplesFile)));
    }

    [Fact]
    public async Task An_out_directory_that_holds_files_is_refused_before_anything_runs()
    {
        var outDir = Path.Combine(_root, "used");
        Directory.CreateDirectory(outDir);
        File.WriteAllText(Path.Combine(outDir, "dataflow.json"), "{}");
        var sampler = new RecordedSampler("unused.csv");
        var e = await Assert.ThrowsAsync<CaptureException>(() =>
            new CaptureRunner(TextWriter.Null, TextWriter.Null).RunAsync(Options("python3", outDir), sampler));
        Assert.Contains("not empty", e.Message);
        Assert.False(sampler.Started);
    }

    [Theory]
    [InlineData(new[] { "python", "a.py", "x" }, "python", "", "a.py x")]
    [InlineData(new[] { "/venv/bin/python3.12", "-u", "-X", "dev", "-m", "pkg.mod", "--k" }, "/venv/bin/python3.12", "-u -X dev", "-m pkg.mod --k")]
    [InlineData(new[] { "a.py" }, "python3", "", "a.py")]
    [InlineData(new[] { "-m", "pkg" }, "python3", "", "-m pkg")]
    public void Commands_keep_their_interpreter(string[] command, string interpreter, string flags, string program)
    {
        var split = ProbeLauncher.Split(command, "python3");
        Assert.Equal(interpreter, split.Interpreter);
        Assert.Equal(flags, string.Join(' ', split.InterpreterFlags));
        Assert.Equal(program, string.Join(' ', split.Program));
    }

    [Theory]
    [InlineData(new string[0], "no command")]
    [InlineData(new[] { "bash", "run.sh" }, "not a Python command")]
    [InlineData(new[] { "python3", "-c", "print(1)" }, "cannot run under the probe")]
    [InlineData(new[] { "python3", "-u" }, "names no script")]
    [InlineData(new[] { "python3", "-m" }, "-m needs a module")]
    public void Bad_commands_are_refused(string[] command, string message)
    {
        var e = Assert.Throws<CaptureException>(() => ProbeLauncher.Split(command, "python3"));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void The_probe_learns_that_the_worker_samples()
    {
        var psi = ProbeLauncher.Probe(Options("python3", "/tmp/x"));
        Assert.Equal("external", psi.Environment[ProbeLauncher.SamplerVariable]);
        Assert.StartsWith(ProbePython.ProbeDir, psi.Environment["PYTHONPATH"]);
        var fin = ProbeLauncher.Finalize(Options("python3", "/tmp/x"), "/tmp/x/samples.csv");
        Assert.Equal(["-m", "magneton_probe", "finalize", "--out", "/tmp/x", "--samples", "/tmp/x/samples.csv"], fin.ArgumentList);
    }

    /// <summary>--device cpu reaches the probe as its own option, and such a capture needs no NVML at all.</summary>
    [Fact]
    public async Task A_cpu_capture_tells_the_probe_and_never_opens_nvml()
    {
        var options = CaptureCommand.ParseOptions(["--system", "s", "--out", "/tmp/x", "--device", "cpu", "--", "python3", "job.py"]);
        Assert.Equal(CaptureDevice.Cpu, options.Device);
        var psi = ProbeLauncher.Probe(options);
        var args = psi.ArgumentList.ToList();
        Assert.Equal(["--device", "cpu"], args.Skip(args.IndexOf("--device")).Take(2));
        Assert.True(args.IndexOf("--device") < args.IndexOf("--"));
        Assert.Equal(CaptureDevice.Gpu, CaptureCommand.ParseOptions(["--system", "s", "--out", "/tmp/x", "--", "job.py"]).Device);
        Assert.DoesNotContain("--device", ProbeLauncher.Probe(Options("python3", "/tmp/x")).ArgumentList);

        // Without a driver a CPU capture still runs the probe: here a python3 that is not there, so exit 2 naming it.
        var stderr = new StringWriter();
        int code = await Program.RunAsync(["capture", "--device", "cpu", "--python", "/nonexistent/python3", "--system", "s",
            "--out", Path.Combine(_root, "cpu"), "--", "job.py"], TextWriter.Null, stderr);
        Assert.Equal(2, code);
        Assert.Contains("/nonexistent/python3", stderr.ToString());
        Assert.DoesNotContain("NVML", stderr.ToString());
    }

    [NoNvmlFact]
    public async Task Without_a_driver_capture_exits_2_before_starting_anything()
    {
        var outDir = Path.Combine(_root, "never");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await Program.RunAsync(["capture", "--system", "s", "--out", outDir, "--", "python3", "job.py"], stdout, stderr);
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("magneton: error: NVML not available", line);
        Assert.Contains("no NVIDIA driver", line);
        Assert.False(Directory.Exists(outDir));
    }

    [Theory]
    [InlineData(new[] { "capture", "--out", "o", "--", "python3", "a.py" }, "--system")]
    [InlineData(new[] { "capture", "--system", "s", "--", "python3", "a.py" }, "--out")]
    [InlineData(new[] { "capture", "--system", "s", "--out", "o" }, "command after --")]
    [InlineData(new[] { "capture", "--system", "s", "--out", "o", "--", "ls" }, "not a Python command")]
    [InlineData(new[] { "capture", "--system", "s", "--out", "o", "--iterations", "x", "--", "a.py" }, "--iterations")]
    [InlineData(new[] { "capture", "--system", "s", "--out", "o", "--bogus", "--", "a.py" }, "unknown option")]
    [InlineData(new[] { "capture", "--system", "s", "--out", "o", "a.py" }, "goes after --")]
    [InlineData(new[] { "capture", "--system", "s", "--out", "o", "--device", "tpu", "--", "a.py" }, "--device needs cuda or cpu")]
    public async Task Bad_capture_command_lines_are_one_line_errors(string[] args, string message)
    {
        var stderr = new StringWriter();
        int code = await Program.RunAsync(args, TextWriter.Null, stderr);
        Assert.Equal(2, code);
        var line = Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(message, line);
    }
}
