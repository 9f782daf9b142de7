using Magneton.Core.Bundles;
using Magneton.Core.Energy;
using Magneton.GpuWorker.Sampling;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.GpuWorker;

/// <summary>
/// The window algorithm and the update detection on the real H100 captures in samples/:
/// a replay window's power recomputed from replay_counter.csv must give replay.json's power_w, and the counter must be
/// found to move every ~100 ms.
/// </summary>
public sealed class WindowOnRealSamplesTests(ITestOutputHelper output)
{
    [Fact]
    public void Every_replay_item_power_is_recomputed_from_the_counter_within_1_percent_mean_2_percent_worst()
    {
        var errors = new List<(string Where, double Error)>();
        foreach (var bundle in GpuTestPaths.H100Bundles())
        {
            var replay = ReplayReader.Read(Path.Combine(bundle, BundleFiles.Replay));
            var counter = PowerCsvReader.Read(Path.Combine(bundle, BundleFiles.ReplayCounter), BundleFiles.ReplayCounter);
            string name = Path.GetRelativePath(GpuTestPaths.H100, bundle);
            foreach (var item in replay.Items)
            {
                Assert.Null(item.Error);
                Assert.True(item.PowerW is > 0, $"{name} item {item.Id}: replay.json has no power_w");
                var w = CounterWindow.Measure(counter, item.WindowStartNs, item.WindowEndNs);
                Assert.True(w.IsValid, $"{name} item {item.Kind} {item.Id}: {w.Updates} counter updates in its window");
                // replay.json's own count of updates inside the window is the same rule.
                Assert.InRange(w.Updates, item.CounterUpdates - 1, item.CounterUpdates + 1);
                errors.Add(($"{name} {item.Kind} {item.Id} ({item.Op ?? item.Module})", Math.Abs(w.PowerW - item.PowerW!.Value) / item.PowerW.Value));
            }
        }

        double mean = errors.Average(e => e.Error);
        var worst = errors.MaxBy(e => e.Error);
        output.WriteLine($"{errors.Count} replay items: mean relative error {mean:E2}, worst {worst.Error:E2} ({worst.Where})");
        Assert.True(errors.Count >= 150, $"only {errors.Count} replay items found");
        Assert.True(mean <= 0.01, $"mean relative error {mean:P3} over {errors.Count} items");
        Assert.True(worst.Error <= 0.02, $"worst relative error {worst.Error:P3}: {worst.Where}");
    }

    [Fact]
    public void Idle_windows_before_the_replays_are_recomputed_too()
    {
        foreach (var bundle in GpuTestPaths.H100Bundles())
        {
            var replay = ReplayReader.Read(Path.Combine(bundle, BundleFiles.Replay));
            var counter = PowerCsvReader.Read(Path.Combine(bundle, BundleFiles.ReplayCounter), BundleFiles.ReplayCounter);
            var idle = replay.Idle!;
            var w = CounterWindow.Measure(counter, idle.WindowStartNs, idle.WindowEndNs);
            Assert.True(w.IsValid, $"{bundle}: idle window has {w.Updates} updates");
            Assert.InRange(w.PowerW, 100, 160); // H100 idle, ~122-130 W
            Assert.InRange(Math.Abs(w.PowerW - idle.PowerW!.Value) / idle.PowerW.Value, 0, 0.02);
        }
    }

    [Fact]
    public void Nvml_step_counter_updates_every_100_ms_through_the_sampler()
    {
        var file = Path.Combine(GpuTestPaths.H100, "nvml_step.csv");
        var recorded = PowerCsvReader.Read(file, "nvml_step.csv");

        // The recorded rows played back through the sampler reproduce the file row for row ...
        var gpu = new RecordedGpu(recorded);
        var options = new PowerSamplerOptions { Clock = gpu.Clock };
        var span = TimeSpan.FromTicks((recorded.TimeNs[^1] - recorded.TimeNs[0]) / 100);
        var played = PowerSampler.Record(gpu, span, options);
        Assert.Equal(recorded.TimeNs, played.TimeNs);
        Assert.Equal(recorded.EnergyMj, played.EnergyMj);
        Assert.Equal(recorded.PowerInstantMw, played.PowerInstantMw);
        Assert.Equal(recorded.PowerAverageMw, played.PowerAverageMw);

        // ... and its update detection finds the ~100 ms period of an H100's counter.
        var updates = CounterUpdates.Find(played);
        double period = CounterUpdates.MedianPeriodMs(played, updates);
        output.WriteLine($"nvml_step.csv: {recorded.Count} rows, {updates.Length} counter updates, median period {period:0.00} ms");
        Assert.InRange(updates.Length, 30, 40); // 3.65 s of samples
        Assert.InRange(period, 90, 110);

        // The live count the sampling thread keeps agrees with the detection on its rows (past the last row the
        // playback repeats it, which adds rows but no update).
        gpu = new RecordedGpu(recorded);
        using var sampler = new PowerSampler(gpu, new PowerSamplerOptions { Clock = gpu.Clock });
        sampler.Start();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (sampler.Count < recorded.Count && DateTime.UtcNow < deadline) Thread.Sleep(1);
        var rows = sampler.Stop();
        Assert.True(rows.Count >= recorded.Count);
        Assert.Equal(updates.Length, sampler.UpdateCount);
        Assert.Equal(played.TimeNs[updates[^1]], sampler.LastUpdateUnixNs);
    }

    [Fact]
    public void Nvml_step_load_window_is_far_above_idle()
    {
        var recorded = PowerCsvReader.Read(Path.Combine(GpuTestPaths.H100, "nvml_step.csv"), "nvml_step.csv");
        // meta.json step marks: 1 s idle, 1.5 s of bf16 matmuls from load_start to load_end, 1 s idle.
        const long loadStart = 1795704603406170135, loadEnd = 1795704604937082349;
        var idle = CounterWindow.Measure(recorded, recorded.TimeNs[0], loadStart);
        var load = CounterWindow.Measure(recorded, loadStart + 200_000_000, loadEnd);
        output.WriteLine($"idle {idle.PowerW:0.0} W ({idle.Updates} updates), load {load.PowerW:0.0} W ({load.Updates} updates)");
        Assert.InRange(idle.PowerW, 100, 160);
        Assert.InRange(load.PowerW, 500, 900);
    }

    [Fact]
    public void Every_power_file_of_the_captures_updates_every_100_ms()
    {
        foreach (var bundle in GpuTestPaths.H100Bundles())
            foreach (var name in new[] { BundleFiles.Power, BundleFiles.BaselinePower, BundleFiles.ReplayCounter })
            {
                var samples = PowerCsvReader.Read(Path.Combine(bundle, name), name);
                double period = CounterUpdates.MedianPeriodMs(samples);
                Assert.True(period is >= 90 and <= 110, $"{bundle}/{name}: median update period {period:0.0} ms");
            }
    }
}
