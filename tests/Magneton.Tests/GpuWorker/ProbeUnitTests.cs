using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.GpuWorker;

/// <summary>
/// The Python probe's own unit tests (src/GpuWorker/probe/tests, standard library only: fingerprints, alignment,
/// trace rewriting, writers, finalize, replay planning, the command line) run by CI through this test.
/// </summary>
public sealed class ProbeUnitTests(ITestOutputHelper output)
{
    [PythonFact]
    public Task Python_unittests_of_the_probe_pass() => RunUnitTests(null);

    /// <summary>The same tests through real PyTorch: test_torch_cpu.py's semantic-pass fixes and CPU capture run too.</summary>
    [TorchFact]
    public async Task Python_unittests_of_the_probe_pass_on_real_torch()
    {
        var err = await RunUnitTests(TorchPython.Executable);
        foreach (var test in new[] { "test_a_fingerprint_error_fails_with_the_value_and_the_operator", "test_replay_inputs_are_cloned_when_recorded",
                     "test_tensors_are_released_once_fingerprinted", "test_a_cpu_capture_is_a_complete_bundle_without_energy" })
            Assert.Contains(err.Split('\n'), l => l.StartsWith(test + " ", StringComparison.Ordinal) && !l.Contains("skipped", StringComparison.Ordinal));
    }

    async Task<string> RunUnitTests(string? python)
    {
        var r = await ProbePython.RunAsync(["-m", "unittest", "discover", "-s", "src/GpuWorker/probe/tests", "-v"],
            ProbePython.Deadline, python: python);
        output.WriteLine(r.Err.Length > 20000 ? r.Err[^20000..] : r.Err);
        Assert.True(r.Code == 0, $"{python ?? "python3"} -m unittest exited {r.Code}:\n{r.Out}\n{r.Err}");
        var summary = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains(summary, line => line == "OK" || line.StartsWith("OK (", StringComparison.Ordinal));
        Assert.Contains(summary, line => line.StartsWith("Ran ", StringComparison.Ordinal));
        return r.Err;
    }
}

/// <summary>python3 for the probe's tests: found on PATH, run from the repository root with the probe importable.</summary>
internal static class ProbePython
{
    public static string? Executable { get; } = Find();

    /// <summary>Only a hung interpreter runs into it: a synthetic bundle took over 2 min on a loaded 2-core machine.</summary>
    public static readonly TimeSpan Deadline = TimeSpan.FromMinutes(10);

    public static string ProbeDir => Path.Combine(GpuTestPaths.RepoRoot, "src", "GpuWorker", "probe");

    public sealed record Result(int Code, string Out, string Err);

    /// <summary>Runs python (<paramref name="python"/>, else python3 from PATH) and waits for its exit up to a generous deadline.</summary>
    public static async Task<Result> RunAsync(IEnumerable<string> args, TimeSpan timeout, string? workingDirectory = null, string? python = null)
    {
        var psi = new ProcessStartInfo(python ?? Executable ?? throw new InvalidOperationException("python3 is not on PATH"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? GpuTestPaths.RepoRoot,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["PYTHONPATH"] = ProbeDir;
        psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1"; // no __pycache__ left in the source tree
        psi.Environment.Remove("MAGNETON_SAMPLER");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            await p.WaitForExitAsync().WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"python3 {string.Join(' ', args)} did not finish within {timeout}: {await stderr}");
        }
        return new Result(p.ExitCode, await stdout, await stderr);
    }

    static string? Find()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "python3");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}

/// <summary>A fact that needs python3 (the probe's language); skipped, with the reason, where there is none.</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (ProbePython.Executable is null) Skip = "python3 is not on PATH: the Python probe's tests cannot run";
    }
}
