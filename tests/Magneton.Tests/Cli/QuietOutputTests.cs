using System.Diagnostics;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Cli;

/// <summary>
/// The terminal shows Magneton's own lines: Orleans' and the hosts' logs go to the run's log file (with --verbose
/// its path and their errors on stderr), and bundles are read before any silo starts, their errors naming the
/// bundle as typed. Run as a real process, so nothing written to the console directly could hide.
/// </summary>
[Collection("CLI")]
public sealed class QuietOutputTests : IDisposable
{
    readonly DirectoryInfo _logs = Directory.CreateTempSubdirectory("magneton-logs-");

    public void Dispose() => _logs.Delete(recursive: true);

    async Task<(int Code, string Out, string[] Err)> Magneton(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(MagnetonProcess.MagnetonDll);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["MAGNETON_LOG_DIR"] = _logs.FullName;
        start.Environment.Remove("MAGNETON_DEBUG");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(3)); // a loaded 2-core machine
        await process.WaitForExitAsync(deadline.Token);
        return (process.ExitCode, await stdout, (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    string[] LogFiles() => Directory.GetFiles(_logs.FullName, "magneton-*.log");

    [Fact]
    public async Task A_cluster_that_does_not_answer_is_one_line_and_the_hosting_failure_goes_to_the_log_file()
    {
        var (code, stdout, err) = await Magneton("compare", "--cluster", "127.0.0.1:1", TestRepo.GeluA, TestRepo.GeluB);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(err);
        Assert.StartsWith("magneton: error: --cluster 127.0.0.1:1: no Magneton cluster answered", line);

        var log = File.ReadAllText(Assert.Single(LogFiles()));
        Assert.Contains("Hosting failed to start", log);
        Assert.Contains("Orleans", log);
    }

    [Fact]
    public async Task Verbose_prints_the_log_file_and_the_errors_the_hosts_logged()
    {
        var (code, _, err) = await Magneton("compare", "--verbose", "--cluster", "127.0.0.1:1", TestRepo.GeluA, TestRepo.GeluB);
        Assert.Equal(2, code);
        var file = Assert.Single(LogFiles());
        Assert.Equal("magneton: log file: " + file, err[0]);
        Assert.Contains(err, l => l.StartsWith("magneton: log: fail Microsoft.Extensions.Hosting", StringComparison.Ordinal) && l.Contains("Hosting failed to start"));
        Assert.StartsWith("magneton: error: --cluster 127.0.0.1:1", err[^1]);
        Assert.All(err, l => Assert.StartsWith("magneton: ", l)); // one line per entry, no stack traces
    }

    [Fact]
    public async Task A_broken_B_bundle_is_named_by_its_path_before_any_silo_starts()
    {
        using var bad = TestRepo.CopyBundle(TestRepo.GeluB);
        bad.Truncate("kineto.json.gz");
        var (code, stdout, err) = await Magneton("compare", TestRepo.GeluA, bad.Path);
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        var line = Assert.Single(err);
        Assert.StartsWith($"magneton: error: {Path.Combine(bad.Path, "kineto.json.gz")}: gzip: ", line);
        Assert.Empty(LogFiles()); // no silo was started, so nothing of Orleans was logged
    }

    [Fact]
    public async Task A_compare_prints_the_summary_and_nothing_of_Orleans()
    {
        var (code, stdout, err) = await Magneton("compare", TestRepo.GeluA, TestRepo.GeluB, "--json", "-");
        Assert.True(code == 0, string.Join('\n', err));
        Assert.StartsWith("{", stdout.TrimStart());
        Assert.StartsWith("Magneton: A = hf-gpt2-gelu_new, B = hf-gpt2-gelu_pytorch_tanh", err[0]);
        Assert.DoesNotContain(err, l => l.Contains("Orleans", StringComparison.Ordinal) || l.Contains("WorkItemGroup", StringComparison.Ordinal)
            || l.Contains("Thread Pool", StringComparison.Ordinal) || l.Contains("warn:", StringComparison.Ordinal));
    }
}
