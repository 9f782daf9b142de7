namespace Magneton.GpuWorker.Capture;

/// <summary>
/// One capture: the user's Python command run under the probe (<c>python -m magneton_probe</c>), written as a bundle
/// to <see cref="OutDir"/>. <see cref="ProbeArguments"/> are passed to the probe before its <c>--</c>
/// (<c>--iterations 20</c>, <c>--no-replay</c>, <c>--replay-repeat 2</c>).
/// </summary>
public sealed record CaptureOptions
{
    public required string System { get; init; }
    public required string OutDir { get; init; }
    /// <summary>The user's command: <c>python script.py args</c>, <c>script.py args</c> or <c>-m module args</c>.</summary>
    public required IReadOnlyList<string> Command { get; init; }
    /// <summary>The interpreter when the command does not name one: MAGNETON_PYTHON, else python3.</summary>
    public string? Python { get; init; }
    /// <summary>The NVML index of the GPU to sample.</summary>
    public int Gpu { get; init; }
    /// <summary>Where the job runs: a GPU sampled through NVML, or the CPU (no sampler, no energy, no replay).</summary>
    public Magneton.Core.Bundles.CaptureDevice Device { get; init; }
    public IReadOnlyList<string> ProbeArguments { get; init; } = [];
    /// <summary>A directory prepended to PYTHONPATH so that <c>magneton_probe</c> imports without pip (MAGNETON_PROBE_PATH).</summary>
    public string? ProbePath { get; init; }
    /// <summary>Where the command runs (its relative paths); null: this process' current directory.</summary>
    public string? WorkingDirectory { get; init; }
    /// <summary>Variables set for the probe and the command on top of this process' environment.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
    /// <summary>
    /// False: the command starts from <see cref="JobEnvironment.FromNode"/> instead of this process' environment
    /// (a worker's jobs; <c>magneton capture</c> runs the user's own command with the user's environment).
    /// </summary>
    public bool InheritEnvironment { get; init; } = true;
}

/// <summary>What a capture produced.</summary>
public sealed record CaptureResult(string OutDir, int Operators, int ReplayItems, int Samples, double? OverheadFraction,
    double BaselineIterationSeconds, double BaselineIterationEnergyJ)
{
    /// <summary>A CPU capture measured no energy: <see cref="BaselineIterationEnergyJ"/> is 0 and means nothing.</summary>
    public Magneton.Core.Bundles.CaptureDevice Device { get; init; }
}

/// <summary>A capture that could not be made as asked (exit code 2): bad command, a probe that refused, a bad bundle.</summary>
public sealed class CaptureException(string message, int exitCode = 2) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
