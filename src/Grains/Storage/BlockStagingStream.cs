using System.Buffers;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace Magneton.Grains.Storage;

/// <summary>
/// A write-only stream into a block blob that commits nothing until <see cref="CommitAsync"/>: readers see the blob's
/// old content until then, and a writer that fails half way leaves it as it was. (BlockBlobClient.OpenWrite with
/// overwrite replaces the blob with an empty one as it opens, and commits whatever was written when disposed.)
/// Blocks are named by their offset (<see cref="BlobBundleStore.BlockIdOf"/>), as an upload's are.
/// </summary>
internal sealed class BlockStagingStream(BlockBlobClient blob) : Stream
{
    const int BlockBytes = 4 << 20;

    readonly List<string> _blocks = [];
    byte[] _buffer = ArrayPool<byte>.Shared.Rent(BlockBytes);
    int _filled;
    long _staged;

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => _staged + _filled;
    public override long Position { get => Length; set => throw new NotSupportedException(); }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        while (!data.IsEmpty)
        {
            int n = Math.Min(data.Length, BlockBytes - _filled);
            data[..n].CopyTo(_buffer.AsMemory(_filled));
            _filled += n;
            data = data[n..];
            if (_filled == BlockBytes) await StageAsync(ct).ConfigureAwait(false);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        WriteAsync(buffer.AsMemory(offset, count), ct).AsTask();

    /// <summary>Stages what is buffered and commits the blocks: the blob is now what was written.</summary>
    public async Task CommitAsync(BlobHttpHeaders headers, CancellationToken ct)
    {
        await StageAsync(ct).ConfigureAwait(false);
        await blob.CommitBlockListAsync(_blocks, new CommitBlockListOptions { HttpHeaders = headers }, ct).ConfigureAwait(false);
    }

    async Task StageAsync(CancellationToken ct)
    {
        if (_filled == 0) return;
        var id = BlobBundleStore.BlockIdOf(_staged);
        using (var content = new MemoryStream(_buffer, 0, _filled, writable: false))
            await blob.StageBlockAsync(id, content, new BlockBlobStageBlockOptions(), ct).ConfigureAwait(false);
        _blocks.Add(id);
        _staged += _filled;
        _filled = 0;
    }

    // Blocks are staged as they fill, never on a flush: a flush must not commit part of the blob.
    public override void Flush() { }
    public override Task FlushAsync(CancellationToken ct) => Task.CompletedTask;

    public override void Write(byte[] buffer, int offset, int count) =>
        throw new NotSupportedException("a blob's blocks are staged asynchronously: write with WriteAsync");
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && _buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
        }
        base.Dispose(disposing);
    }
}
