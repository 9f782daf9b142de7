using System.Diagnostics;
using System.IO.Compression;
using System.Text;

namespace Magneton.Tests.Bundles;

/// <summary>Hostile stand-ins for bundle files, made at test time: gzip bombs, FIFOs, device links.</summary>
internal static class HostileInput
{
    /// <summary>
    /// A trace that starts as JSON and then is blank to <paramref name="decodedBytes"/>: one 64 MiB gzip member of
    /// spaces (64 KiB compressed) written again and again; GZipStream reads concatenated members as one stream, so
    /// a 10 GB bomb is written in about a second.
    /// </summary>
    public static void WriteGzipBomb(string path, long decodedBytes)
    {
        const int block = 64 << 20;
        byte[] member;
        using (var buffer = new MemoryStream())
        {
            using (var gz = new GZipStream(buffer, CompressionLevel.SmallestSize, leaveOpen: true))
            {
                var spaces = new byte[1 << 20];
                Array.Fill(spaces, (byte)' ');
                for (int i = 0; i < block / spaces.Length; i++) gz.Write(spaces);
            }
            member = buffer.ToArray();
        }
        using var file = File.Create(path);
        using (var head = new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true))
            head.Write(Encoding.UTF8.GetBytes("{\"traceEvents\": ["));
        for (long written = 0; written < decodedBytes; written += block) file.Write(member);
    }

    /// <summary>Replaces <paramref name="path"/> by a FIFO (no writer ever opens it).</summary>
    public static void MakeFifo(string path)
    {
        File.Delete(path);
        using var p = Process.Start(new ProcessStartInfo("mkfifo", [path]) { RedirectStandardError = true })!;
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException("mkfifo failed: " + p.StandardError.ReadToEnd());
    }

    /// <summary>Replaces <paramref name="path"/> by a link to /dev/zero: a file that never ends.</summary>
    public static void LinkToDevZero(string path)
    {
        File.Delete(path);
        File.CreateSymbolicLink(path, "/dev/zero");
    }
}
