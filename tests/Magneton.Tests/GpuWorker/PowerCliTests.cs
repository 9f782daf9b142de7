using System.Globalization;
using System.Text.Json;
using Magneton.Client;
using Magneton.Core.Bundles;
using Magneton.Core.Energy;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.GpuWorker;

/// <summary>
/// <c>magneton power</c> on recorded files and <c>magneton gpus</c> without a driver, run in-process. The NVML paths
/// with a (fake) driver run as child processes in <see cref="FakeNvmlTests"/>.
/// </summary>
public sealed class PowerCliTests
{
    static Task<CliResult> Run(params string[] args) => CliRunner.Run(args);

    static string OneErrorLine(CliResult r)
    {
        Assert.Equal(2, r.Code);
        Assert.Equal("", r.Out);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("magneton: error: ", lines[0]);
        Assert.DoesNotContain(" at ", lines[0]);
        return lines[0];
    }

    static string Bundle(string pair, string role) => Grains.TestRepo.Bundle(pair, role);

    static string S(long v) => v.ToString(CultureInfo.InvariantCulture);

    [Fact]
    public async Task Json_window_power_of_a_replay_item_equals_replay_json()
    {
        var bundle = Bundle("gpt2-gelu", "A");
        var counterFile = Path.Combine(bundle, BundleFiles.ReplayCounter);
        var replay = ReplayReader.Read(Path.Combine(bundle, BundleFiles.Replay));
        var counter = PowerCsvReader.Read(counterFile, BundleFiles.ReplayCounter);
        foreach (var item in replay.Items.Take(4))
        {
            var r = await Run("power", counterFile, "--from", S(item.WindowStartNs), "--to", S(item.WindowEndNs), "--json");
            Assert.Equal(0, r.Code);
            Assert.Equal("", r.Err);
            using var doc = JsonDocument.Parse(r.Out);
            var root = doc.RootElement;
            Assert.Equal(["power_w", "energy_j", "updates", "update_period_ms"], root.EnumerateObject().Select(p => p.Name));
            var w = CounterWindow.Measure(counter, item.WindowStartNs, item.WindowEndNs);
            Assert.Equal(w.PowerW, root.GetProperty("power_w").GetDouble());
            Assert.Equal(w.EnergyJ, root.GetProperty("energy_j").GetDouble());
            Assert.Equal(w.Updates, root.GetProperty("updates").GetInt32());
            Assert.Equal(w.UpdatePeriodMs, root.GetProperty("update_period_ms").GetDouble());
            Assert.InRange(Math.Abs(root.GetProperty("power_w").GetDouble() - item.PowerW!.Value) / item.PowerW.Value, 0, 0.02);
            Assert.InRange(root.GetProperty("update_period_ms").GetDouble(), 90, 110);
        }
    }

    [Fact]
    public async Task Without_a_window_the_whole_file_is_summarised_on_one_line()
    {
        var file = Path.Combine(GpuTestPaths.H100, "nvml_step.csv");
        var r = await Run("power", file);
        Assert.Equal(0, r.Code);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var line = Assert.Single(lines);
        Assert.StartsWith(file + ": ", line);
        Assert.Matches(@" W over 3\.6\d\d s = \d+\.\d{3} J, from 3\d counter updates every (9\d|10\d)\.\d ms$", line);
    }

    [Theory]
    [InlineData("--from", "abc", "--from")]
    [InlineData("--from", "-5", "--from")]
    [InlineData("--to", "1.5e18", "--to")]
    [InlineData("--to", "99999999999999999999", "--to")]
    public async Task Bad_numbers_name_the_file_and_the_option(string option, string value, string field)
    {
        var file = Path.Combine(GpuTestPaths.H100, "nvml_step.csv");
        var line = OneErrorLine(await Run("power", file, option, value));
        Assert.Contains(file, line);
        Assert.Contains(field + ":", line);
        Assert.Contains(value, line);
    }

    [Fact]
    public async Task From_not_before_to_is_bad_input()
    {
        var file = Path.Combine(GpuTestPaths.H100, "nvml_step.csv");
        var line = OneErrorLine(await Run("power", file, "--from", "1795704603000000000", "--to", "1795704603000000000"));
        Assert.Contains(file + ": --from/--to:", line);
    }

    [Fact]
    public async Task A_window_with_fewer_than_two_counter_updates_is_bad_input()
    {
        var file = Path.Combine(GpuTestPaths.H100, "nvml_step.csv");
        // 50 ms right at the start of the file: no update inside.
        var line = OneErrorLine(await Run("power", file, "--from", "1795704602353499728", "--to", "1795704602403499728", "--json"));
        Assert.Contains(file + ": window:", line);
        Assert.Contains("0 energy-counter update(s)", line);
        // Outside the file altogether.
        line = OneErrorLine(await Run("power", file, "--from", "1", "--to", "2"));
        Assert.Contains("the file spans [1795704602353499728, ", line);
    }

    [Fact]
    public async Task A_file_that_is_not_a_samples_file_is_bad_input_naming_the_file_and_the_field()
    {
        var line = OneErrorLine(await Run("power", Path.Combine(GpuTestPaths.H100, "meta.json")));
        Assert.Contains("meta.json: header: expected \"t_unix_ns,power_instant_mw,power_avg_mw,energy_mj\"", line);

        var missing = Path.Combine(Path.GetTempPath(), "magneton-no-such-" + Guid.NewGuid().ToString("N") + ".csv");
        line = OneErrorLine(await Run("power", missing));
        Assert.Contains(missing + ": file: not found", line);

        var dir = Directory.CreateTempSubdirectory("magneton-power-cli-");
        try
        {
            var bad = Path.Combine(dir.FullName, "power.csv");
            File.WriteAllText(bad, "t_unix_ns,power_instant_mw,power_avg_mw,energy_mj\n10,1,2,3\n20,1,x,4\n");
            line = OneErrorLine(await Run("power", bad));
            Assert.Contains(bad + ": row 2 power_avg_mw: \"x\" is not an integer (line 3)", line);

            File.WriteAllText(bad, "t_unix_ns,power_instant_mw,power_avg_mw,energy_mj\n");
            line = OneErrorLine(await Run("power", bad));
            Assert.Contains(bad + ": rows: has no samples", line);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("power")]
    [InlineData("power", "a.csv", "b.csv")]
    [InlineData("power", "a.csv", "--from")]
    [InlineData("power", "a.csv", "--frobnicate")]
    [InlineData("power", "a.csv", "--device", "0")]
    [InlineData("power", "--sample", "1")]
    [InlineData("power", "--sample", "abc", "--out", "x.csv")]
    [InlineData("power", "--sample", "0", "--out", "x.csv")]
    [InlineData("power", "--sample", "1", "--out", "x.csv", "--device", "-1")]
    [InlineData("power", "--sample", "1", "--out", "x.csv", "--interval-ms", "NaN")]
    [InlineData("power", "a.csv", "--sample", "1", "--out", "x.csv")]
    [InlineData("gpus", "--frobnicate")]
    public async Task Bad_command_lines_are_one_line_errors(params string[] args)
    {
        OneErrorLine(await Run(args));
    }

    [NoNvmlFact]
    public async Task Gpus_without_a_driver_is_one_line_about_NVML_and_exit_code_2()
    {
        var line = OneErrorLine(await Run("gpus"));
        Assert.Equal("magneton: error: NVML not available: libnvidia-ml.so.1 was not found (no NVIDIA driver on this host)", line);
        line = OneErrorLine(await Run("gpus", "--json"));
        Assert.Contains("NVML", line);
    }

    [NoNvmlFact]
    public async Task Sampling_without_a_driver_is_one_line_about_NVML_and_writes_nothing()
    {
        var output = Path.Combine(Path.GetTempPath(), "magneton-power-" + Guid.NewGuid().ToString("N") + ".csv");
        var line = OneErrorLine(await Run("power", "--sample", "0.5", "--out", output));
        Assert.Contains("NVML not available", line);
        Assert.False(File.Exists(output));
    }

    [NoNvmlFact]
    public void The_session_throws_the_one_line_unavailable_exception()
    {
        var e = Assert.Throws<Magneton.GpuWorker.Nvml.NvmlUnavailableException>(Magneton.GpuWorker.Nvml.NvmlSession.Open);
        Assert.Equal(Magneton.GpuWorker.Nvml.NvmlUnavailableException.NoDriverMessage, e.Message);
        Assert.Equal(Magneton.GpuWorker.Nvml.NvmlReturn.LibraryNotFound, e.Code);
        Assert.IsType<DllNotFoundException>(e.InnerException);
    }

    [Fact]
    public async Task Help_lists_the_power_and_gpus_commands()
    {
        var r = await Run("--help");
        Assert.Equal(0, r.Code);
        Assert.Contains("magneton power <samples.csv> [--from <unix ns>] [--to <unix ns>] [--json]", r.Out);
        Assert.Contains("magneton power --sample <seconds> --out <file>", r.Out);
        Assert.Contains("magneton gpus [--json]", r.Out);
    }
}
