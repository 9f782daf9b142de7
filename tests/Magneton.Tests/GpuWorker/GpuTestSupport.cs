using System.Diagnostics;
using System.Runtime.InteropServices;
using Magneton.Core.Bundles;
using Magneton.GpuWorker.Sampling;
using Xunit;

namespace Magneton.Tests.GpuWorker;

/// <summary>Paths of the repository and of its real H100 captures (samples/: the pairs, nvml_step.csv, meta.json).</summary>
internal static class GpuTestPaths
{
    public static string RepoRoot => Grains.TestRepo.Root;

    public static string H100 => Path.Combine(RepoRoot, "samples");

    /// <summary>The bundle directories of samples/*/*, in a stable order.</summary>
    public static IReadOnlyList<string> H100Bundles()
    {
        Assert.True(Directory.Exists(H100), $"the H100 captures are missing: {H100}");
        return Directory.GetDirectories(H100).SelectMany(Directory.GetDirectories).Order(StringComparer.Ordinal).ToList();
    }

    public static string FakeNvmlSource => Path.Combine(RepoRoot, "tests", "Magneton.Tests", "GpuWorker", "fake_nvml", "fake_nvml.c");
}

/// <summary>
/// A deterministic GPU for the sampler: a fake clock that each NVML-like read advances by <see cref="CallNs"/>, and an
/// energy counter that, like an H100's, moves only every <see cref="UpdatePeriodNs"/> by power x period.
/// </summary>
internal sealed class FakeGpu(double powerW, long startNs = 1_795_000_000_000_000_000, long callNs = 1_300_000) : IEnergyCounter
{
    public const long UpdatePeriodNs = 100_000_000;
    public const long BaseEnergyMj = 5_000_000;

    long _now = startNs;
    public long StartNs { get; } = startNs;
    public long CallNs { get; } = callNs;
    public double PowerW { get; set; } = powerW;
    public int Reads { get; private set; }
    /// <summary>Throws this after that many energy reads (a GPU falling off the bus mid-run).</summary>
    public (int AfterReads, Exception Error)? FailAfter { get; set; }

    public long Now => Interlocked.Read(ref _now);
    public long Clock() => Interlocked.Read(ref _now);

    public long ReadEnergyMj()
    {
        if (FailAfter is { } f && Reads >= f.AfterReads) throw f.Error;
        Reads++;
        long e = EnergyAt(Now);
        Interlocked.Add(ref _now, CallNs);
        return e;
    }

    public long ReadPowerAverageMw()
    {
        Interlocked.Add(ref _now, CallNs);
        return (long)(PowerW * 1000);
    }

    public long ReadPowerInstantMw()
    {
        Interlocked.Add(ref _now, CallNs);
        return (long)(PowerW * 1000) + 500;
    }

    /// <summary>The counter at a time: whole periods since the start, each adding power x period.</summary>
    public long EnergyAt(long ns) => BaseEnergyMj + (ns - StartNs) / UpdatePeriodNs * (long)(PowerW * UpdatePeriodNs / 1e6);
}

/// <summary>
/// Plays a recorded samples file back through the sampler: its clock returns the current row's time and the last read
/// of a sample moves to the next row, so a sampler reading all three values reproduces the file row for row.
/// </summary>
internal sealed class RecordedGpu(PowerSamples recorded) : IEnergyCounter
{
    int _row;

    public long Clock() => recorded.TimeNs[_row];
    public long ReadEnergyMj() => recorded.EnergyMj[_row];
    public long ReadPowerInstantMw() => recorded.PowerInstantMw[_row];

    public long ReadPowerAverageMw()
    {
        long v = recorded.PowerAverageMw[_row];
        if (_row < recorded.Count - 1) _row++;
        return v;
    }
}

/// <summary>A fact that needs gcc (to build the NVML test double); skipped with the reason where there is none.</summary>
public sealed class GccFactAttribute : FactAttribute
{
    public GccFactAttribute()
    {
        if (!OperatingSystem.IsLinux()) Skip = "the NVML test double is a Linux shared library";
        else if (FakeNvml.Gcc is null) Skip = "gcc is not on PATH: the NVML test double (fake_nvml.c) cannot be built";
    }
}

/// <summary>A fact about hosts without an NVIDIA driver; skipped where libnvidia-ml.so.1 loads (a GPU host).</summary>
public sealed class NoNvmlFactAttribute : FactAttribute
{
    public NoNvmlFactAttribute()
    {
        foreach (var name in new[] { "libnvidia-ml.so.1", "libnvidia-ml.so" })
            if (NativeLibrary.TryLoad(name, out var h))
            {
                NativeLibrary.Free(h);
                Skip = $"{name} loads on this host (an NVIDIA driver is installed): the no-driver path cannot be seen here";
                return;
            }
    }
}

/// <summary>fake_nvml.c built as libnvidia-ml.so.1 in a temporary directory (once per test class), and a runner of the
/// magneton CLI as a child process with LD_LIBRARY_PATH pointing at it.</summary>
public sealed class FakeNvml : IDisposable
{
    public static string? Gcc { get; } = FindGcc();

    public string Directory { get; }
    public string Library => Path.Combine(Directory, "libnvidia-ml.so.1");
    /// <summary>The double built with -DFAKE_NVML_OLD_DRIVER: no energy counter and no field values entry points.</summary>
    public string OldDriverDirectory => Path.Combine(Directory, "old-driver");

    public FakeNvml()
    {
        Directory = Path.Combine(Path.GetTempPath(), "magneton-fake-nvml-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        System.IO.Directory.CreateDirectory(OldDriverDirectory);
        if (Gcc is null) return; // the facts using this are skipped
        Build(Library);
        Build(Path.Combine(OldDriverDirectory, "libnvidia-ml.so.1"), "-DFAKE_NVML_OLD_DRIVER");
    }

    static void Build(string library, params string[] defines)
    {
        var psi = new ProcessStartInfo(Gcc!) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", library }.Concat(defines).Append(GpuTestPaths.FakeNvmlSource))
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        var output = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(60_000)) { p.Kill(); throw new TimeoutException("gcc did not finish within 60 s"); }
        if (p.ExitCode != 0) throw new InvalidOperationException($"gcc failed ({p.ExitCode}): {err.Result}{output.Result}");
    }

    public sealed record Result(int Code, string Out, string Err, TimeSpan Elapsed);

    /// <summary>
    /// Runs <c>dotnet magneton.dll args</c> with LD_LIBRARY_PATH set to the fake library's directory (unless
    /// <paramref name="env"/> sets it).
    /// </summary>
    public async Task<Result> RunMagnetonAsync(IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h : "dotnet";
        var psi = new ProcessStartInfo(host)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Directory,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "magneton.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["LD_LIBRARY_PATH"] = Directory;
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment.Remove("FAKE_NVML_INIT");
        if (env is not null)
            foreach (var (k, v) in env) psi.Environment[k] = v;
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"magneton {string.Join(' ', args)} did not exit within 60 s: {await stderr}");
        }
        return new Result(p.ExitCode, await stdout, await stderr, sw.Elapsed);
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }

    static string? FindGcc()
    {
        if (!OperatingSystem.IsLinux()) return null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, "gcc");
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
