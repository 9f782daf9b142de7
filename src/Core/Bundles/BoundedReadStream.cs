namespace Magneton.Core.Bundles;

/// <summary>
/// A read-only pass-through over a trace's decoded bytes that refuses to go past <see cref="InputLimits"/>: the
/// decoded size, and (given the compressed stream under it) the ratio of decoded to compressed bytes read so far,
/// so a gzip bomb is stopped after a few tens of megabytes, not after filling the disk's worth of CPU time.
/// </summary>
public sealed class BoundedReadStream(Stream decoded, Stream? compressed, string file, InputLimits limits) : Stream
{
    long _read;

    public override int Read(byte[] buffer, int offset, int count) => Counted(decoded.Read(buffer, offset, count));

    public override int Read(Span<byte> buffer) => Counted(decoded.Read(buffer));

    int Counted(int n)
    {
        _read += n;
        if (_read > limits.MaxTraceBytes)
            throw new BundleException(file, "size",
                $"decodes to more than {BundleLimits.Describe(limits.MaxTraceBytes)}, the limit; raise it with --max-trace-bytes or {InputLimits.MaxTraceBytesVariable}");
        if (compressed is not null && _read > InputLimits.RatioFloorBytes)
        {
            long source = Math.Max(1, compressed.Position);
            if (_read > limits.MaxCompressionRatio * source)
                throw new BundleException(file, "gzip",
                    $"expands more than {limits.MaxCompressionRatio:0.#}x ({BundleLimits.Describe(_read)} from {BundleLimits.Describe(source)}), "
                    + $"the limit (a compression bomb?); raise it with --max-compression-ratio or {InputLimits.MaxCompressionRatioVariable}");
        }
        return n;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _read; set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
