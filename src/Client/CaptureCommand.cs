using System.CommandLine;
using System.Globalization;
using Magneton.GpuWorker.Capture;
using Magneton.GpuWorker.Nvml;

namespace Magneton.Client;

/// <summary>
/// <c>magneton capture --system NAME --out DIR [--cluster host:port] [options] -- &lt;python command...&gt;</c>:
/// runs the command under the Python probe (<c>python -m magneton_probe</c>, installed with
/// <c>pip install src/GpuWorker/probe</c>) while this process samples the GPU's energy counter through NVML, writes
/// the bundle to DIR, checks it with the analysis' own reader, and with --cluster uploads it and prints its run id.
/// Without an NVIDIA driver it exits 2 with one line before starting anything.
/// </summary>
public static class CaptureCommand
{
    internal static Command Definition(TextWriter stdout, TextWriter stderr) =>
        Definition((options, cluster, ct) => RunAsync(options, cluster, stdout, stderr, ct));

    /// <summary>The capture options a command line means, read by the command's own definition (for tests and tools).</summary>
    internal static CaptureOptions ParseOptions(IReadOnlyList<string> args)
    {
        CaptureOptions? parsed = null;
        var command = Definition((options, _, _) => { parsed = options; return Task.FromResult(Program.Ok); });
        Cli.Parse(command, args).Invoke();
        return parsed ?? throw new InvalidOperationException("capture parsed without running its action");
    }

    static Command Definition(Func<CaptureOptions, ClusterTarget?, CancellationToken, Task<int>> run)
    {
        var system = CliOptions.Text("--system", "name", "name of the system, recorded in the bundle");
        system.Required = true;
        var outDir = CliOptions.Text("--out", "dir", "bundle directory to create (must be new or empty)");
        outDir.Required = true;
        var cluster = new ClusterOptionSet(required: false, "also upload the bundle to a cluster and print its run id");
        var gpu = CliOptions.Value("--gpu", "n",
            "NVML index of the GPU to sample (default 0); the job runs on it (CUDA_VISIBLE_DEVICES is set to its UUID unless already set)",
            CliOptions.Index("--gpu"));
        var python = CliOptions.Text("--python", "path", "interpreter for `script.py` / `-m` commands (default: MAGNETON_PYTHON or python3)");
        var probePath = CliOptions.Text("--probe-path", "dir",
            "directory put on PYTHONPATH so magneton_probe imports without pip (default: MAGNETON_PROBE_PATH)");
        var device = CliOptions.Value("--device", "cuda|cpu",
            "where the job runs (default cuda). cpu: no GPU, no NVML, no energy, no replay; the bundle says so, and compare "
            + "reports matching, regions, causes and CPU time", ParseDevice);
        var probe = new ProbeOptionSet();
        var tail = new CommandTail("magneton capture --system NAME --out DIR -- python script.py");
        var command = new Command("capture",
            "Runs the command (python script.py args, script.py args, or -m module args) under the Magneton probe while sampling "
            + "the GPU's energy counter, and writes a capture bundle to --out (a new directory). The script declares its job with "
            + "magneton_probe.workload(step, ...) (see src/GpuWorker/probe/README.md).")
        {
            system, outDir, gpu, device, python, probePath,
        };
        cluster.AddTo(command);
        probe.AddTo(command);
        command.Add(tail);
        command.SetAction((pr, ct) => run(new CaptureOptions
        {
            System = pr.GetValue(system)!, OutDir = pr.GetValue(outDir)!, Command = pr.GetValue(tail)!, Python = pr.GetValue(python),
            Gpu = pr.GetValue(gpu), Device = pr.GetValue(device), ProbeArguments = probe.Read(pr), ProbePath = pr.GetValue(probePath),
        }, cluster.Read(pr), ct));
        return command;
    }

    public static async Task<int> RunAsync(CaptureOptions options, ClusterTarget? cluster, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        CheckCommand(options.Command, options.Python); // a bad command is refused before NVML or Python start

        CaptureResult result;
        if (options.Device == Magneton.Core.Bundles.CaptureDevice.Cpu)
        {
            await stderr.WriteLineAsync("magneton capture: on the CPU (no GPU energy is measured); running the probe").ConfigureAwait(false);
            try
            {
                using var none = new NoSampler();
                result = await new CaptureRunner(stdout, stderr).RunAsync(options, none, null, ct).ConfigureAwait(false);
            }
            catch (CaptureException e)
            {
                await stderr.WriteLineAsync("magneton: error: " + Program.OneLine(e.Message)).ConfigureAwait(false);
                return e.ExitCode;
            }
            await stdout.WriteLineAsync(string.Format(CultureInfo.InvariantCulture,
                "captured {0} on the CPU (no GPU energy measured): {1} operators; baseline {2:0.000} ms per iteration{3}",
                result.OutDir, result.Operators, result.BaselineIterationSeconds * 1e3,
                result.OverheadFraction is double o ? string.Format(CultureInfo.InvariantCulture, "; profiler-pass overhead {0:+0.0;-0.0} %", o * 100) : "")).ConfigureAwait(false);
            return await UploadAsync(result, cluster, stdout, stderr, ct).ConfigureAwait(false);
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
            var device = SampledGpus(nvml, options.Gpu).Usable.Single();
            var node = CaptureRunner.NodeInfo.Of(device);
            await stderr.WriteLineAsync($"magneton capture: sampling GPU {device.Index} ({device.Name}); running the probe").ConfigureAwait(false);
            options = options with { Environment = ProbeLauncher.PinToGpu(device.Uuid) };
            using var sampler = new PowerCaptureSampler(nvml.Counter(options.Gpu));
            try
            {
                result = await new CaptureRunner(stdout, stderr).RunAsync(options, sampler, node, ct).ConfigureAwait(false);
            }
            catch (CaptureException e)
            {
                await stderr.WriteLineAsync("magneton: error: " + Program.OneLine(e.Message)).ConfigureAwait(false);
                return e.ExitCode;
            }
        }

        var inv = CultureInfo.InvariantCulture;
        await stdout.WriteLineAsync(string.Format(inv,
            "captured {0}: {1} operators, {2} replay items, {3} NVML samples; baseline {4:0.000} ms and {5:0.000} J per iteration{6}",
            result.OutDir, result.Operators, result.ReplayItems, result.Samples, result.BaselineIterationSeconds * 1e3,
            result.BaselineIterationEnergyJ,
            result.OverheadFraction is double f ? string.Format(inv, "; energy-pass overhead {0:+0.0;-0.0} %", f * 100) : "")).ConfigureAwait(false);

        return await UploadAsync(result, cluster, stdout, stderr, ct).ConfigureAwait(false);
    }

    static async Task<int> UploadAsync(CaptureResult result, ClusterTarget? cluster, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (cluster is not null)
        {
            var checkedBundle = await BundleUploader.CheckAsync(result.OutDir, ct).ConfigureAwait(false);
            await using var connection = await ClusterConnection.ConnectAsync(cluster, ct).ConfigureAwait(false);
            var run = await new BundleUploader(connection.Client, stderr).ResolveAsync(result.OutDir, checkedBundle, ct).ConfigureAwait(false);
            await stdout.WriteLineAsync(RunArgument.Typed(run.RunId)).ConfigureAwait(false);
        }
        return Program.Ok;
    }

    static Magneton.Core.Bundles.CaptureDevice ParseDevice(string text) => text switch
    {
        "cuda" => Magneton.Core.Bundles.CaptureDevice.Gpu,
        "cpu" => Magneton.Core.Bundles.CaptureDevice.Cpu,
        _ => throw new UsageException($"option --device needs cuda or cpu, got '{text}'"),
    };

    /// <summary>A CPU capture samples nothing.</summary>
    sealed class NoSampler : ICaptureSampler
    {
        public void Start() { }
        public Magneton.Core.Bundles.PowerSamples Stop() => new([], [], [], []);
        public void Dispose() { }
    }

    /// <summary>A command the probe cannot run (not Python, no script) as a one-line usage error.</summary>
    internal static void CheckCommand(IReadOnlyList<string> command, string? python = null)
    {
        try
        {
            ProbeLauncher.Split(command, python);
        }
        catch (CaptureException e)
        {
            throw new UsageException(e.Message);
        }
    }

    /// <summary>
    /// The GPUs a capture may sample (the one asked for, or all when <paramref name="gpu"/> is null): those with an
    /// energy counter, and those left out for lack of one. One-line errors when none is left.
    /// </summary>
    internal static (List<GpuDevice> Usable, List<GpuDevice> Skipped) SampledGpus(NvmlSession nvml, int? gpu)
    {
        if (nvml.Devices.Count == 0) throw new UsageException($"NVML found no GPU (driver {nvml.DriverVersion})");
        if (gpu is int g && g >= nvml.Devices.Count)
            throw new UsageException($"--gpu {g}: NVML sees {nvml.Devices.Count} GPU(s), 0..{nvml.Devices.Count - 1}");
        var asked = gpu is int i ? [nvml.Devices[i]] : nvml.Devices.ToList();
        var usable = asked.Where(d => d.HasEnergyCounter).ToList();
        if (usable.Count == 0)
            throw new UsageException($"GPU {asked[0].Index} ({asked[0].Name}) has no energy counter (Volta or later is needed)");
        return (usable, asked.Where(d => !d.HasEnergyCounter).ToList());
    }
}
