using System.Diagnostics;

namespace Magneton.GpuWorker.Capture;

/// <summary>
/// The command lines of a capture: the user's Python command rewritten to run under the probe,
/// <c>&lt;python&gt; [interpreter flags] -m magneton_probe --out DIR --system NAME [probe options] -- script.py args</c>,
/// and the probe's finalize step. The probe is told that the worker samples NVML (MAGNETON_SAMPLER=external), so it
/// starts no sampler of its own and leaves the energies to finalize.
/// </summary>
public static class ProbeLauncher
{
    public const string SamplerVariable = "MAGNETON_SAMPLER";
    public const string ExternalSampler = "external";
    public const string PythonVariable = "MAGNETON_PYTHON";
    public const string ProbePathVariable = "MAGNETON_PROBE_PATH";
    public const string Module = "magneton_probe";

    /// <summary>The interpreter, its own flags, and the script (or <c>-m module</c>) with its arguments.</summary>
    public sealed record SplitCommand(string Interpreter, IReadOnlyList<string> InterpreterFlags, IReadOnlyList<string> Program);

    /// <summary>
    /// <c>python[3[.x]] [flags] script.py args</c> keeps its interpreter (a virtual environment's python stays in
    /// charge); <c>script.py args</c> and <c>-m module args</c> run under <paramref name="python"/>, MAGNETON_PYTHON or python3.
    /// </summary>
    public static SplitCommand Split(IReadOnlyList<string> command, string? python = null)
    {
        if (command.Count == 0)
            throw new CaptureException("no command after --: magneton capture --system NAME --out DIR -- python script.py [args]");
        string interpreter;
        int i;
        if (Path.GetFileName(command[0]).StartsWith("python", StringComparison.Ordinal))
        {
            interpreter = command[0];
            i = 1;
        }
        else if (command[0] == "-m" || command[0].EndsWith(".py", StringComparison.Ordinal))
        {
            interpreter = python ?? Environment.GetEnvironmentVariable(PythonVariable) ?? "python3";
            i = 0;
        }
        else
        {
            throw new CaptureException(
                $"'{command[0]}' is not a Python command: capture runs `python script.py ...`, `script.py ...` or `-m module ...` under the probe");
        }

        var flags = new List<string>();
        while (i < command.Count && command[i].StartsWith('-') && command[i] != "-m")
        {
            if (command[i] is "-c" or "-")
                throw new CaptureException($"python {command[i]} cannot run under the probe: give a script file or -m module");
            bool takesValue = command[i] is "-X" or "-W";
            flags.Add(command[i++]);
            if (takesValue && i < command.Count) flags.Add(command[i++]);
        }
        if (i >= command.Count) throw new CaptureException("the command names no script: python script.py [args] or python -m module [args]");
        if (command[i] == "-m" && i + 1 >= command.Count) throw new CaptureException("-m needs a module name");
        return new SplitCommand(interpreter, flags, command.Skip(i).ToArray());
    }

    /// <summary>
    /// CUDA_VISIBLE_DEVICES for the job when it is not set already: the sampled GPU by UUID, so the job runs on the
    /// GPU whose counter is read (CUDA's default order is fastest-first, not NVML's PCI order).
    /// </summary>
    public static IReadOnlyDictionary<string, string> PinToGpu(string? gpuUuid) =>
        gpuUuid is null || !string.IsNullOrEmpty(System.Environment.GetEnvironmentVariable("CUDA_VISIBLE_DEVICES"))
            ? new Dictionary<string, string>()
            : new Dictionary<string, string> { ["CUDA_VISIBLE_DEVICES"] = gpuUuid };

    /// <summary>The probe around the user's command.</summary>
    public static ProcessStartInfo Probe(CaptureOptions o)
    {
        var split = Split(o.Command, o.Python);
        var psi = Start(split.Interpreter, o);
        foreach (var f in split.InterpreterFlags) psi.ArgumentList.Add(f);
        foreach (var a in new[] { "-m", Module, "--out", Path.GetFullPath(o.OutDir), "--system", o.System })
            psi.ArgumentList.Add(a);
        if (o.Device == Magneton.Core.Bundles.CaptureDevice.Cpu)
        {
            psi.ArgumentList.Add("--device");
            psi.ArgumentList.Add("cpu");
        }
        foreach (var a in o.ProbeArguments) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("--");
        foreach (var a in split.Program) psi.ArgumentList.Add(a);
        return psi;
    }

    /// <summary>The probe's finalize step: slices the samples into the bundle's CSVs and fills in the energies.</summary>
    public static ProcessStartInfo Finalize(CaptureOptions o, string samplesCsv)
    {
        var psi = Start(Split(o.Command, o.Python).Interpreter, o);
        foreach (var a in new[] { "-m", Module, "finalize", "--out", Path.GetFullPath(o.OutDir), "--samples", Path.GetFullPath(samplesCsv) })
            psi.ArgumentList.Add(a);
        return psi;
    }

    static ProcessStartInfo Start(string interpreter, CaptureOptions o)
    {
        var psi = new ProcessStartInfo(interpreter)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (o.WorkingDirectory is not null) psi.WorkingDirectory = Path.GetFullPath(o.WorkingDirectory);
        if (!o.InheritEnvironment)
        {
            psi.Environment.Clear();
            foreach (var (name, value) in JobEnvironment.FromNode()) psi.Environment[name] = value;
        }
        foreach (var (name, value) in o.Environment) psi.Environment[name] = value;
        psi.Environment[SamplerVariable] = ExternalSampler;
        var probePath = o.ProbePath ?? Environment.GetEnvironmentVariable(ProbePathVariable);
        if (!string.IsNullOrEmpty(probePath))
        {
            var existing = psi.Environment.TryGetValue("PYTHONPATH", out var p) ? p : null;
            psi.Environment["PYTHONPATH"] = string.IsNullOrEmpty(existing)
                ? Path.GetFullPath(probePath)
                : Path.GetFullPath(probePath) + Path.PathSeparator + existing;
        }
        return psi;
    }
}
