namespace Magneton.GpuWorker.Capture;

/// <summary>
/// The environment a worker's capture starts from: only the variables a Python/CUDA job needs from the node, never
/// the worker's own settings and secrets (an OTLP token, cloud credentials, the cluster's TLS key paths). A
/// workload adds what it needs in its "env".
/// </summary>
public static class JobEnvironment
{
    static readonly string[] Passed =
    [
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
        "LD_LIBRARY_PATH", "CUDA_HOME", "CUDA_PATH", "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES",
        "NVIDIA_DRIVER_CAPABILITIES", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE",
        "HF_HOME", "TORCH_HOME", "XDG_CACHE_HOME",
    ];

    /// <summary>The allowed variables of this process' environment that are set.</summary>
    public static IReadOnlyDictionary<string, string> FromNode()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in Passed)
            if (Environment.GetEnvironmentVariable(name) is { } v) env[name] = v;
        return env;
    }
}
