using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Magneton.Core.Bundles;
using Magneton.GpuWorker.Sampling;

namespace Magneton.GpuWorker.Capture;

/// <summary>
/// Runs one capture: samples NVML for the whole run, runs the user's command under the probe, writes the samples
/// (samples.csv), lets the probe's finalize slice them into power.csv / baseline_power.csv / replay_counter.csv and
/// fill in the energies of its windows, records the machine (measure.json "node"), and reads the result back with
/// Core's <see cref="BundleReader"/>, so a capture that ends well is a bundle the analysis accepts.
/// A CPU capture (<see cref="CaptureOptions.Device"/>) has no sampler: no samples, no finalize, no energies.
/// </summary>
public sealed class CaptureRunner(TextWriter stdout, TextWriter stderr)
{
    public const string SamplesFile = "samples.csv";

    /// <summary>The machine recorded in measure.json's "node" section, when known.</summary>
    public sealed record NodeInfo(string? Host, string? Gpu, string? GpuUuid, string? Driver, double? PowerLimitW)
    {
        /// <summary>This machine and a GPU as NVML reports it; the enforced power limit where there is one.</summary>
        public static NodeInfo Of(Nvml.GpuDevice d) =>
            new(Environment.MachineName, d.Name, d.Uuid, d.Driver, d.EnforcedPowerLimitW ?? d.PowerLimitW);
    }

    public async Task<CaptureResult> RunAsync(CaptureOptions o, ICaptureSampler sampler, NodeInfo? node = null,
        CancellationToken ct = default)
    {
        var probe = ProbeLauncher.Probe(o); // a bad command fails here, before anything starts
        var outDir = PrepareOutDir(o.OutDir);
        if (o.Device == CaptureDevice.Cpu) return await RunOnCpuAsync(probe, outDir, ct).ConfigureAwait(false);
        var samplesPath = Path.Combine(outDir, SamplesFile);

        sampler.Start();
        int rc;
        PowerSamples samples;
        try
        {
            rc = await RunAsync(probe, ct).ConfigureAwait(false);
        }
        finally
        {
            samples = sampler.Stop();
        }
        PowerCsv.Write(samples, samplesPath);
        if (rc != 0)
            throw new CaptureException(
                $"the probe exited with code {rc} (see its messages above); {samples.Count} NVML samples are in {samplesPath}",
                rc == 2 ? 2 : 1);

        int frc = await RunAsync(ProbeLauncher.Finalize(o, samplesPath), ct).ConfigureAwait(false);
        if (frc != 0) throw new CaptureException($"the probe's finalize step exited with code {frc}", frc == 2 ? 2 : 1);
        if (File.Exists(samplesPath)) File.Delete(samplesPath);
        if (node is not null) RecordNode(Path.Combine(outDir, BundleFiles.Measure), node);

        var bundle = BundleReader.Read(outDir);
        var m = bundle.Measure;
        double? overhead = m.Baseline.IterSeconds > 0 ? m.EnergyPass.IterSeconds / m.Baseline.IterSeconds - 1 : null;
        return new CaptureResult(outDir, bundle.Dataflow.Nodes.Count, bundle.Replay?.Items.Count ?? 0, samples.Count,
            overhead, m.Baseline.IterSeconds, m.Baseline.IterEnergyCounterJ);
    }

    /// <summary>The probe alone: it writes the whole bundle (power.csv with its header only), nothing to sample.</summary>
    async Task<CaptureResult> RunOnCpuAsync(ProcessStartInfo probe, string outDir, CancellationToken ct)
    {
        int rc = await RunAsync(probe, ct).ConfigureAwait(false);
        if (rc != 0)
            throw new CaptureException($"the probe exited with code {rc} (see its messages above)", rc == 2 ? 2 : 1);
        var bundle = BundleReader.Read(outDir);
        var m = bundle.Measure;
        if (m.Device != CaptureDevice.Cpu)
            throw new CaptureException($"{BundleFiles.Measure}: device: the probe did not record a CPU capture");
        double? overhead = m.Baseline.IterSeconds > 0 ? m.EnergyPass.IterSeconds / m.Baseline.IterSeconds - 1 : null;
        return new CaptureResult(outDir, bundle.Dataflow.Nodes.Count, 0, 0, overhead, m.Baseline.IterSeconds, 0)
        { Device = CaptureDevice.Cpu };
    }

    static string PrepareOutDir(string dir)
    {
        var full = Path.GetFullPath(dir);
        if (File.Exists(full)) throw new CaptureException($"--out {dir}: is a file, not a directory");
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new CaptureException($"--out {dir}: exists and is not empty; a capture writes a new bundle directory");
        Directory.CreateDirectory(full);
        return full;
    }

    /// <summary>Adds measure.json's "node" section (host, GPU, UUID, driver, power limit) from what NVML reported.</summary>
    static void RecordNode(string measurePath, NodeInfo node)
    {
        var root = JsonNode.Parse(File.ReadAllText(measurePath)) as JsonObject
                   ?? throw new CaptureException($"{measurePath}: not a JSON object");
        var section = new JsonObject();
        if (node.Host is not null) section["host"] = node.Host;
        if (node.Gpu is not null) section["gpu"] = node.Gpu;
        if (node.GpuUuid is not null) section["gpu_uuid"] = node.GpuUuid;
        if (node.Driver is not null) section["driver"] = node.Driver;
        if (node.PowerLimitW is double w) section["power_limit_w"] = w;
        root["node"] = section;
        var tmp = measurePath + ".tmp";
        File.WriteAllText(tmp, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(tmp, measurePath, overwrite: true);
    }

    /// <summary>Runs a child process, forwarding its output line by line; kills it (and its children) on cancellation.</summary>
    async Task<int> RunAsync(ProcessStartInfo psi, CancellationToken ct)
    {
        using var process = new Process { StartInfo = psi };
        try
        {
            if (!process.Start()) throw new CaptureException($"{psi.FileName} did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new CaptureException($"{psi.FileName}: cannot be started ({e.Message}); is Python installed (or set MAGNETON_PYTHON)?");
        }
        var pumpOut = Pump(process.StandardOutput, stdout);
        var pumpErr = Pump(process.StandardError, stderr);
        try
        {
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
            throw;
        }
        await Task.WhenAll(pumpOut, pumpErr).ConfigureAwait(false);
        return process.ExitCode;
    }

    static async Task Pump(StreamReader from, TextWriter to)
    {
        while (await from.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            lock (to) to.WriteLine(line);
        }
        lock (to) to.Flush();
    }
}
