using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Magneton.Core.Bundles;
using Magneton.Core.Energy;
using Magneton.GpuWorker.Nvml;
using Magneton.GpuWorker.Sampling;

namespace Magneton.Client;

/// <summary>
/// <c>magneton power &lt;samples.csv&gt; [--from ns] [--to ns] [--json]</c>: the power of a window of a recorded
/// power.csv (or baseline_power.csv, replay_counter.csv) from its energy-counter updates, so any window can be audited.
/// <c>magneton power --sample &lt;seconds&gt; --out &lt;file&gt; [--device i] [--interval-ms x] [--energy-only]</c> records
/// such a file from NVML first (a diagnostic: the worker's sampler on its own) and reports its whole span.
/// </summary>
public static class PowerCommand
{
    const string Synopsis = "magneton power <samples.csv> --from <unix ns> --to <unix ns> [--json]";

    internal static Command Definition(TextWriter stdout, TextWriter stderr)
    {
        var file = new Argument<string?>("samples.csv")
        {
            Arity = ArgumentArity.ZeroOrOne,
            Description = "a power.csv, baseline_power.csv or replay_counter.csv of a bundle",
        };
        var from = CliOptions.Text("--from", "unix ns", "start of the window (default: the file's first sample)");
        var to = CliOptions.Text("--to", "unix ns", "end of the window (default: the file's last sample)");
        var json = CliOptions.JsonFlag("print {\"power_w\", \"energy_j\", \"updates\", \"update_period_ms\"} instead of text");
        var sample = CliOptions.Value<double?>("--sample", "seconds", "record NVML samples of one GPU for this long, to --out, then report their whole span",
            v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && double.IsFinite(s) && s > 0 && s <= 86_400
                ? s
                : throw new UsageException($"--sample: '{v}' is not a number of seconds in (0, 86400]"));
        var output = CliOptions.Text("--out", "file", "with --sample: the power.csv to write");
        var device = CliOptions.Value<int?>("--device", "i", "with --sample: the GPU's NVML index (default 0)",
            v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int i) ? i : throw new UsageException($"--device: '{v}' is not a GPU index"));
        var interval = CliOptions.Value<double?>("--interval-ms", "ms", "with --sample: time between samples (default 0: as fast as NVML answers)",
            v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double ms) && double.IsFinite(ms) && ms is >= 0 and <= 10_000
                ? ms
                : throw new UsageException($"--interval-ms: '{v}' is not a number of milliseconds in [0, 10000]"));
        var energyOnly = CliOptions.Flag("--energy-only", "with --sample: read only the energy counter (no instant or average power)");
        var command = new Command("power",
            "The power of a window of a recorded power.csv from its energy-counter updates, so any window can be audited; or, with "
            + "--sample, records such a file from NVML first (the worker's sampler on its own) and reports its whole span.")
        {
            file, from, to, json, sample, output, device, interval, energyOnly,
        };
        command.SetAction((pr, ct) => RunAsync(pr.GetValue(file), pr.GetValue(from), pr.GetValue(to), pr.GetValue(json), pr.GetValue(sample),
            pr.GetValue(output), pr.GetValue(device), pr.GetValue(interval), pr.GetValue(energyOnly), stdout, stderr, ct));
        return command;
    }

    public static async Task<int> RunAsync(string? file, string? from, string? to, bool json, double? sample, string? output, int? device,
        double? interval, bool energyOnly, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (sample is not null)
        {
            if (file is not null || from is not null || to is not null)
                throw new UsageException("power --sample records a new file: give --out, not a samples file, --from or --to");
            if (output is null) throw new UsageException("power --sample needs --out <file> for the samples it records");
            return await SampleAsync(sample.Value, output, device ?? 0, interval ?? 0, energyOnly, json, stdout, stderr, ct).ConfigureAwait(false);
        }
        if (device is not null || interval is not null || output is not null || energyOnly)
            throw new UsageException("--out, --device, --interval-ms and --energy-only go with --sample");
        if (file is null) throw new UsageException($"power needs a samples file: {Synopsis}");

        long? fromNs = from is null ? null : UnixNs(file, "--from", from);
        long? toNs = to is null ? null : UnixNs(file, "--to", to);
        if (fromNs is long f && toNs is long t && f >= t)
            throw new UsageException($"{file}: --from/--to: --from {f} is not before --to {t}");

        var samples = PowerCsv.Read(file, file);
        return await ReportAsync(file, samples, fromNs, toNs, json, stdout).ConfigureAwait(false);
    }

    static async Task<int> ReportAsync(string file, PowerSamples samples, long? fromNs, long? toNs, bool json, TextWriter stdout)
    {
        if (samples.Count == 0) throw new BundleException(file, "rows", "has no samples");
        long from = fromNs ?? samples.TimeNs[0], to = toNs ?? samples.TimeNs[^1];
        if (from >= to)
            throw new UsageException($"{file}: window: [{from}, {to}] is empty (the file spans [{samples.TimeNs[0]}, {samples.TimeNs[^1]}])");
        var w = CounterWindow.Measure(samples, from, to);
        if (!w.IsValid)
            throw new UsageException(
                $"{file}: window: [{from}, {to}] ({(to - from) / 1e9:0.###} s) holds {w.Updates} energy-counter update(s), " +
                $"2 or more are needed for its power (the counter moves every ~100 ms; the file spans [{samples.TimeNs[0]}, {samples.TimeNs[^1]}])");

        if (json)
        {
            await stdout.WriteLineAsync(Json(w)).ConfigureAwait(false);
            return Program.Ok;
        }
        await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"{file}: {w.PowerW:0.00} W over {(to - from) / 1e9:0.000} s = {w.EnergyJ:0.000} J, from {w.Updates} counter updates every {w.UpdatePeriodMs:0.0} ms")).ConfigureAwait(false);
        return Program.Ok;
    }

    static async Task<int> SampleAsync(double s, string output, int index, double intervalMs, bool energyOnly, bool json,
        TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        PowerSamples samples;
        try
        {
            using var nvml = NvmlSession.Open();
            if (index >= nvml.Devices.Count)
                throw new UsageException($"--device: {index} is not a GPU index (NVML found {nvml.Devices.Count} GPU(s))");
            if (!nvml.Devices[index].HasEnergyCounter)
                throw new UsageException($"--device: GPU {index} ({nvml.Devices[index].Name}) has no energy counter " +
                                         "(nvmlDeviceGetTotalEnergyConsumption needs a Volta or later GPU)");
            using var sampler = new PowerSampler(nvml.Counter(index), new PowerSamplerOptions
            {
                Interval = TimeSpan.FromMilliseconds(intervalMs),
                ReadInstantPower = !energyOnly,
                ReadAveragePower = !energyOnly,
            });
            sampler.Start();
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(s), ct).ConfigureAwait(false);
            }
            finally
            {
                samples = sampler.Stop();
            }
        }
        catch (NvmlException e)
        {
            return await NvmlErrorAsync(e, stderr).ConfigureAwait(false);
        }
        PowerCsv.Write(samples, output);
        return await ReportAsync(output, samples, null, null, json, stdout).ConfigureAwait(false);
    }

    static string Json(WindowPower w)
    {
        using var buffer = new MemoryStream();
        using (var j = new Utf8JsonWriter(buffer))
        {
            j.WriteStartObject();
            j.WriteNumber("power_w", w.PowerW);
            j.WriteNumber("energy_j", w.EnergyJ);
            j.WriteNumber("updates", w.Updates);
            j.WriteNumber("update_period_ms", w.UpdatePeriodMs);
            j.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    static long UnixNs(string file, string option, string value)
    {
        if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out long ns))
            throw new UsageException($"{file}: {option}: '{value}' is not a Unix time in nanoseconds (a non-negative integer)");
        return ns;
    }

    /// <summary>An NVML failure (no driver, a GPU lost) as the CLI's one-line bad-input error, exit code 2.</summary>
    internal static async Task<int> NvmlErrorAsync(NvmlException e, TextWriter stderr)
    {
        await stderr.WriteLineAsync("magneton: error: " + Program.OneLine(e.Message)).ConfigureAwait(false);
        return Program.BadInput;
    }
}
