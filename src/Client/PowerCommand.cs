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

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        string? file = null, from = null, to = null, sample = null, output = null, device = null, interval = null;
        bool json = false, energyOnly = false;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            switch (a)
            {
                case "--from" or "--to" or "--sample" or "--out" or "--device" or "--interval-ms":
                    if (i + 1 >= args.Length) throw new UsageException($"option {a} needs a value ({Synopsis})");
                    string v = args[++i];
                    switch (a)
                    {
                        case "--from": from = v; break;
                        case "--to": to = v; break;
                        case "--sample": sample = v; break;
                        case "--out": output = v; break;
                        case "--device": device = v; break;
                        default: interval = v; break;
                    }
                    break;
                case "--json":
                    json = true;
                    break;
                case "--energy-only":
                    energyOnly = true;
                    break;
                case "-h" or "--help":
                    await stdout.WriteAsync(Usage.Text).ConfigureAwait(false);
                    return Program.Ok;
                default:
                    if (a.StartsWith('-') && a.Length > 1)
                        throw new UsageException($"unknown option '{a}' for power ({Synopsis})");
                    if (file is not null) throw new UsageException($"power takes one samples file, got '{file}' and '{a}' ({Synopsis})");
                    file = a;
                    break;
            }
        }

        if (sample is not null)
        {
            if (file is not null || from is not null || to is not null)
                throw new UsageException("power --sample records a new file: give --out, not a samples file, --from or --to");
            if (output is null) throw new UsageException("power --sample needs --out <file> for the samples it records");
            return await SampleAsync(sample, output, device, interval, energyOnly, json, stdout, stderr, ct).ConfigureAwait(false);
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

    static async Task<int> SampleAsync(string seconds, string output, string? device, string? interval, bool energyOnly, bool json,
        TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (!double.TryParse(seconds, NumberStyles.Float, CultureInfo.InvariantCulture, out double s) || !double.IsFinite(s) || s <= 0 || s > 86_400)
            throw new UsageException($"--sample: '{seconds}' is not a number of seconds in (0, 86400]");
        int index = 0;
        if (device is not null && (!int.TryParse(device, NumberStyles.None, CultureInfo.InvariantCulture, out index)))
            throw new UsageException($"--device: '{device}' is not a GPU index");
        double intervalMs = 0;
        if (interval is not null && (!double.TryParse(interval, NumberStyles.Float, CultureInfo.InvariantCulture, out intervalMs)
                                     || !double.IsFinite(intervalMs) || intervalMs < 0 || intervalMs > 10_000))
            throw new UsageException($"--interval-ms: '{interval}' is not a number of milliseconds in [0, 10000]");

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
