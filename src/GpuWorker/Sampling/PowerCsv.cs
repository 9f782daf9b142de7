using System.Buffers.Text;
using Magneton.Core.Bundles;

namespace Magneton.GpuWorker.Sampling;

/// <summary>
/// power.csv, baseline_power.csv and replay_counter.csv of a capture bundle:
/// <c>t_unix_ns,power_instant_mw,power_avg_mw,energy_mj</c>, integers, -1 where a field was not read.
/// Reading is Core's reader (the one bundle ingest uses), so what the worker writes is what the analysis reads.
/// </summary>
public static class PowerCsv
{
    public const string Header = "t_unix_ns,power_instant_mw,power_avg_mw,energy_mj";

    /// <summary>Writes the samples to <paramref name="path"/> (through a temporary file, so a reader never sees half a file).</summary>
    public static void Write(PowerSamples samples, string path)
    {
        var full = Path.GetFullPath(path);
        var tmp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
                Write(samples, stream);
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Writes the header and one line per sample ("\n" line ends, invariant integers).</summary>
    public static void Write(PowerSamples samples, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(samples);
        int n = samples.Count;
        if (samples.PowerInstantMw.Length != n || samples.PowerAverageMw.Length != n || samples.EnergyMj.Length != n)
            throw new ArgumentException("the columns of the samples differ in length", nameof(samples));
        stream.Write("t_unix_ns,power_instant_mw,power_avg_mw,energy_mj\n"u8);
        Span<byte> line = stackalloc byte[4 * 21];
        for (int i = 0; i < n; i++)
        {
            long t = samples.TimeNs[i];
            if (t < 0 || (i > 0 && t < samples.TimeNs[i - 1]))
                throw new ArgumentException($"sample {i}: time {t} is negative or goes backwards", nameof(samples));
            int used = 0;
            Append(line, ref used, t, ',');
            Append(line, ref used, Column(samples.PowerInstantMw[i]), ',');
            Append(line, ref used, Column(samples.PowerAverageMw[i]), ',');
            Append(line, ref used, Column(samples.EnergyMj[i]), '\n');
            stream.Write(line[..used]);
        }
    }

    /// <summary>Reads a samples file with Core's reader; a bad file throws a one-line <see cref="BundleException"/> naming <paramref name="file"/>.</summary>
    public static PowerSamples Read(string path, string? file = null) => PowerCsvReader.Read(path, file ?? path);

    static long Column(long v) => v < 0 ? -1 : v;

    static void Append(Span<byte> line, ref int used, long value, char end)
    {
        Utf8Formatter.TryFormat(value, line[used..], out int written);
        used += written;
        line[used++] = (byte)end;
    }
}
