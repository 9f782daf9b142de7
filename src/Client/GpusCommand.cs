using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Magneton.GpuWorker.Nvml;

namespace Magneton.Client;

/// <summary>
/// <c>magneton gpus [--json]</c>: the NVIDIA GPUs NVML sees, with their identity, limits and one reading each.
/// Exit code 2 with one line where there is no driver (or no GPU).
/// </summary>
public static class GpusCommand
{
    internal static Command Definition(TextWriter stdout, TextWriter stderr)
    {
        var json = CliOptions.JsonFlag("print the GPUs as JSON");
        var command = new Command("gpus", "The NVIDIA GPUs NVML sees: name, UUID, driver, power limits, power, energy counter, clocks, temperature.") { json };
        command.SetAction((pr, ct) => RunAsync(pr.GetValue(json), stdout, stderr, ct));
        return command;
    }

    public static async Task<int> RunAsync(bool json, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        string driver;
        List<(GpuDevice Device, GpuReading Reading)> gpus = [];
        try
        {
            using var nvml = NvmlSession.Open();
            driver = nvml.DriverVersion;
            foreach (var d in nvml.Devices)
            {
                ct.ThrowIfCancellationRequested();
                gpus.Add((d, nvml.Read(d.Index)));
            }
        }
        catch (NvmlException e)
        {
            return await PowerCommand.NvmlErrorAsync(e, stderr).ConfigureAwait(false);
        }
        if (gpus.Count == 0)
            throw new UsageException($"NVML found no GPU (driver {driver})");

        if (json)
        {
            await stdout.WriteLineAsync(Json(driver, gpus)).ConfigureAwait(false);
            return Program.Ok;
        }
        var inv = CultureInfo.InvariantCulture;
        await stdout.WriteLineAsync($"driver {driver}, {gpus.Count} GPU(s)").ConfigureAwait(false);
        foreach (var (d, r) in gpus)
        {
            await stdout.WriteLineAsync($"GPU {d.Index}: {d.Name} {d.Uuid}").ConfigureAwait(false);
            var parts = new List<string>();
            if (r.PowerUsageMw is long usage) parts.Add(string.Format(inv, "power {0:0.0} W", usage / 1000.0));
            if (r.PowerInstantMw is long inst) parts.Add(string.Format(inv, "instant {0:0.0} W", inst / 1000.0));
            parts.Add(r.EnergyMj is long e ? string.Format(inv, "energy counter {0:0.000} J", e / 1000.0) : "no energy counter");
            if (d.PowerLimitW is double limit)
                parts.Add(string.Format(inv, "limit {0:0} W", limit) +
                          (d.EnforcedPowerLimitW is double enf && enf != limit ? string.Format(inv, " (enforced {0:0} W)", enf) : ""));
            if (r.SmClockMhz is int sm) parts.Add($"SM {sm} MHz");
            if (r.MemoryClockMhz is int mem) parts.Add($"memory {mem} MHz");
            if (r.TemperatureC is int c) parts.Add($"{c} C");
            await stdout.WriteLineAsync("  " + string.Join(", ", parts)).ConfigureAwait(false);
        }
        return Program.Ok;
    }

    static string Json(string driver, List<(GpuDevice Device, GpuReading Reading)> gpus)
    {
        using var buffer = new MemoryStream();
        using (var j = new Utf8JsonWriter(buffer))
        {
            j.WriteStartObject();
            j.WriteString("driver", driver);
            j.WriteStartArray("gpus");
            foreach (var (d, r) in gpus)
            {
                j.WriteStartObject();
                j.WriteNumber("index", d.Index);
                j.WriteString("name", d.Name);
                j.WriteString("uuid", d.Uuid);
                Number(j, "power_limit_w", d.PowerLimitW);
                Number(j, "enforced_power_limit_w", d.EnforcedPowerLimitW);
                Number(j, "energy_mj", r.EnergyMj);
                Number(j, "power_usage_w", r.PowerUsageMw / 1000.0);
                Number(j, "power_instant_w", r.PowerInstantMw / 1000.0);
                Number(j, "power_average_w", r.PowerAverageMw / 1000.0);
                Number(j, "sm_clock_mhz", r.SmClockMhz);
                Number(j, "memory_clock_mhz", r.MemoryClockMhz);
                Number(j, "temperature_c", r.TemperatureC);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    static void Number(Utf8JsonWriter j, string name, double? value)
    {
        if (value is double v) j.WriteNumber(name, v); else j.WriteNull(name);
    }

    static void Number(Utf8JsonWriter j, string name, long? value)
    {
        if (value is long v) j.WriteNumber(name, v); else j.WriteNull(name);
    }
}
