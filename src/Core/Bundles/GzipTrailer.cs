using System.Buffers.Binary;

namespace Magneton.Core.Bundles;

/// <summary>
/// GZipStream reports a stream cut short as a plain end of data, so truncation is detected from the gzip trailer:
/// its last 4 bytes hold the uncompressed length mod 2^32 of the member it ends. Traces are written as one member;
/// for a concatenated multi-member file this check would need to walk every member.
/// </summary>
internal static class GzipTrailer
{
    /// <summary>Why the file's trailer disagrees with the <paramref name="decoded"/> byte count, or null if it agrees.</summary>
    public static string? Mismatch(FileStream file, long decoded)
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
