using System.Buffers.Binary;
using System.IO.Compression;

namespace Magneton.Core.Bundles;

/// <summary>kineto.json.gz: decompressed and reduced in one streaming pass, never held whole.</summary>
internal static class KinetoReader
{
    private const string File = BundleFiles.Kineto;

    public static KinetoSummary Read(string path, CancellationToken cancel = default)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16,
                FileOptions.SequentialScan);
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            var counted = new CountingReadStream(gzip);
            TraceTables tables;
            try
            {
                tables = TraceScanner.Scan(counted, cancel);
            }
            catch (BundleException) when (counted.ReachedEnd && TrailerMismatch(file, counted.BytesRead) is { } problem)
            {
                // A truncated download decodes to a JSON prefix; say so instead of blaming the JSON.
                throw new BundleException(File, "gzip", problem);
            }
            if (TrailerMismatch(file, counted.BytesRead) is { } trailer) throw new BundleException(File, "gzip", trailer);
            return TraceReduction.Reduce(tables);
        }
        catch (Exception ex) when (ex is not (BundleException or OperationCanceledException) && BundleErrors.IsInputFailure(ex))
        {
            throw BundleErrors.From(File, ex);
        }
    }

    /// <summary>
    /// GZipStream reports a stream cut short as a plain end of data, so truncation is detected here: the gzip trailer
    /// (last 4 bytes) holds the uncompressed length mod 2^32 of the member it ends. Traces are written as one member;
    /// for a concatenated multi-member file this check would need to walk every member.
    /// </summary>
    private static string? TrailerMismatch(FileStream file, long decoded)
    {
        long length = file.Length;
        if (length < 18) return $"is {length} bytes, shorter than an empty gzip member (truncated)";
        Span<byte> trailer = stackalloc byte[4];
        file.Seek(length - 4, SeekOrigin.Begin);
        file.ReadExactly(trailer);
        uint expected = BinaryPrimitives.ReadUInt32LittleEndian(trailer);
        return expected == (uint)decoded
            ? null
            : $"truncated or corrupt: the gzip trailer records {expected} uncompressed bytes (mod 2^32) but the data decodes to {decoded}";
    }
}
