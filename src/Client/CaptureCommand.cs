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
    public const string Help = """
        magneton capture --system <name> --out <dir> [options] -- <python command...>

        Runs the command (python script.py args, script.py args, or -m module args) under the Magneton probe
        while sampling the GPU's energy counter, and writes a capture bundle to <dir> (a new directory). The script
        declares its job with magneton_probe.workload(step, ...) (see src/GpuWorker/probe/README.md).

        options:
          --system <name>       name of the system, recorded in the bundle (required)
          --out <dir>           bundle directory to create (required; must be new or empty)
          --cluster <h:p>       also upload the bundle to a cluster and print its run id
          --gpu <n>             NVML index of the GPU to sample (default 0); the job runs on it
                                (CUDA_VISIBLE_DEVICES is set to its UUID unless already set)
          --device <cuda|cpu>   where the job runs (default cuda). cpu: no GPU, no NVML, no energy, no replay;
                                the bundle says so, and compare reports matching, regions, causes and CPU time
          --python <path>       interpreter for `script.py` / `-m` commands (default: MAGNETON_PYTHON or python3)
          --probe-path <dir>    directory put on PYTHONPATH so magneton_probe imports without pip
                                (default: MAGNETON_PROBE_PATH)

        """ + ProbeOptionsHelp + "\n";

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var (options, cluster, help) = Parse(args);
        if (help)
        {
            await stdout.WriteAsync(Help).ConfigureAwait(false);
            return Program.Ok;
        }
        if (cluster is not null) ClusterEndpoints.Parse(cluster);
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

    static async Task<int> UploadAsync(CaptureResult result, string? cluster, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (cluster is not null)
        {
            var checkedBundle = await BundleUploader.CheckAsync(result.OutDir, ct).ConfigureAwait(false);
            await using var connection = await ClusterConnection.ConnectAsync(cluster, ct).ConfigureAwait(false);
            var run = await new BundleUploader(connection.Client, stderr).ResolveAsync(result.OutDir, checkedBundle, ct).ConfigureAwait(false);
            await stdout.WriteLineAsync("run:" + run.RunId).ConfigureAwait(false);
        }
        return Program.Ok;
    }

    /// <summary>A CPU capture samples nothing.</summary>
    sealed class NoSampler : ICaptureSampler
    {
        public void Start() { }
        public Magneton.Core.Bundles.PowerSamples Stop() => new([], [], [], []);
        public void Dispose() { }
    }

    internal static (CaptureOptions Options, string? Cluster, bool Help) Parse(string[] args)
    {
        string? system = null, outDir = null, cluster = null, python = null, probePath = null;
        var device = Magneton.Core.Bundles.CaptureDevice.Gpu;
        int gpu = 0;
        var probeArgs = new List<string>();
        int i = 0;
        for (; i < args.Length; i++)
        {
            var a = args[i];
            if (a == "--") break;
            switch (a)
            {
                case "-h" or "--help":
                    return (null!, null, true);
                case "--system":
                    system = Value(args, ref i);
                    break;
                case "--out":
                    outDir = Value(args, ref i);
                    break;
                case "--cluster":
                    cluster = Value(args, ref i);
                    break;
                case "--python":
                    python = Value(args, ref i);
                    break;
                case "--probe-path":
                    probePath = Value(args, ref i);
                    break;
                case "--gpu":
                    gpu = NonNegative(a, Value(args, ref i));
                    break;
                case "--device":
                    device = Value(args, ref i) switch
                    {
                        "cuda" => Magneton.Core.Bundles.CaptureDevice.Gpu,
                        "cpu" => Magneton.Core.Bundles.CaptureDevice.Cpu,
                        var d => throw new UsageException($"option --device needs cuda or cpu, got '{d}'"),
                    };
                    break;
                case var _ when ProbeOption(args, ref i, probeArgs):
                    break;
                default:
                    throw new UsageException(a.StartsWith('-')
                        ? $"unknown option '{a}' for capture (see magneton capture --help)"
                        : $"unexpected argument '{a}': the command to capture goes after -- (magneton capture --system NAME --out DIR -- python script.py)");
            }
        }
        if (system is null) throw new UsageException("capture needs --system NAME (the name recorded in the bundle)");
        if (outDir is null) throw new UsageException("capture needs --out DIR (the bundle directory to write)");
        if (i >= args.Length - 1)
            throw new UsageException("capture needs the command after --: magneton capture --system NAME --out DIR -- python script.py [args]");
        var options = new CaptureOptions
        {
            System = system, OutDir = outDir, Command = args[(i + 1)..], Python = python, Gpu = gpu, Device = device,
            ProbeArguments = probeArgs, ProbePath = probePath,
        };
        return (options, cluster, false);
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

    /// <summary>The probe's own options (shared by capture and submit); false when args[i] is not one.</summary>
    internal static bool ProbeOption(string[] args, ref int i, List<string> probeArgs)
    {
        var a = args[i];
        switch (a)
        {
            case "--iterations" or "--replay-repeat":
                probeArgs.Add(a);
                probeArgs.Add(NonNegative(a, Value(args, ref i)).ToString(CultureInfo.InvariantCulture));
                return true;
            case "--replay-budget" or "--baseline-seconds":
                var v = Value(args, ref i);
                if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var s) || !(s > 0))
                    throw new UsageException($"option {a} needs a positive number of seconds, got '{v}'");
                probeArgs.Add(a);
                probeArgs.Add(v);
                return true;
            case "--no-replay":
                probeArgs.Add(a);
                return true;
            default:
                return false;
        }
    }

    /// <summary>Help lines of the probe options, shared by capture and submit.</summary>
    internal const string ProbeOptionsHelp = """
          --iterations <n>      energy-pass iterations (default: about 0.6 s of the job)
          --no-replay           skip the per-operator replay (operator power from the timeline only)
          --replay-repeat <n>   replay the n longest operators twice (repeatability check)
          --replay-budget <s>   seconds for all replays together (default 240)
          --baseline-seconds <s> length of the uninstrumented baseline (default 2)
        """;

    internal static string Value(string[] args, ref int i)
    {
        if (i + 1 >= args.Length || args[i + 1] == "--") throw new UsageException($"option {args[i]} needs a value");
        return args[++i];
    }

    internal static int NonNegative(string option, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n)
            ? n
            : throw new UsageException($"option {option} needs a non-negative integer, got '{value}'");
}
