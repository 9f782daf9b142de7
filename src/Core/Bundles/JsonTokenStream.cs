using System.Buffers;
using System.Text.Json;

namespace Magneton.Core.Bundles;

/// <summary>
/// The one refill loop under every streaming JSON reader (bundle trace, plain trace, dataflow): a pooled buffer
/// refilled from a stream, handed out as a <see cref="Utf8JsonReader"/> window at a time. Skips a UTF-8 byte-order
/// mark, grows the buffer when one token does not fit (up to a limit), counts the bytes read (what a gzip trailer is
/// checked against) and knows the absolute byte offset of a token for error messages.
/// </summary>
/// <remarks>
/// Utf8JsonReader cannot resume inside a token, so each window is a new reader over the unread bytes and the saved
/// <see cref="JsonReaderState"/>; callers keep their own semantic state. The loop stays in the caller, so the per-token
/// call is a direct one:
/// <code>while (tokens.Next(out var r)) { while (r.Read()) OnToken(ref r); tokens.Advance(ref r); }</code>
/// A caller that reads whole units may rewind the reader to its last complete unit before <see cref="Advance"/>.
/// </remarks>
internal sealed class JsonTokenStream : IDisposable
{
    private readonly Stream _stream;
    private readonly int _maxTokenBytes;
    private byte[] _buffer;
    private int _start, _filled;
    private long _discarded;
    private bool _final, _done, _bomChecked, _advanced = true;
    private JsonReaderState _state;

    public JsonTokenStream(Stream stream, JsonReaderOptions options, string file, int maxTokenBytes = BundleLimits.MaxTraceTokenBytes, int initialBuffer = 1 << 20)
    {
        _stream = stream;
        File = file;
        _maxTokenBytes = maxTokenBytes;
        _buffer = ArrayPool<byte>.Shared.Rent(initialBuffer);
        _state = new JsonReaderState(options);
    }

    /// <summary>The file named in errors.</summary>
    public string File { get; }

    /// <summary>The place (field path) named when a single token exceeds the limit: the reader knows where it is.</summary>
    public Func<string> Place { get; set; } = () => "json";

    /// <summary>Bytes read from the stream (after decompression, byte-order mark included).</summary>
    public long BytesRead { get; private set; }

    /// <summary>The stream reported its end.</summary>
    public bool ReachedEnd => _final;

    /// <summary>The document held no bytes at all (after a byte-order mark).</summary>
    public bool IsEmpty { get; private set; }

    /// <summary>The bytes of the current window (what the reader of the last <see cref="Next"/> reads).</summary>
    public ReadOnlySpan<byte> Window => _buffer.AsSpan(_start, _filled - _start);

    /// <summary>Absolute byte offset in the document of a position of the current window's reader.</summary>
    public long Offset(long positionInWindow) => _discarded + _start + positionInWindow;

    /// <summary>The next window to read, or false when the last one (at the end of the stream) has been read.</summary>
    public bool Next(out Utf8JsonReader reader)
    {
        reader = default;
        if (_done) return false;
        if (!_advanced) throw new InvalidOperationException("JsonTokenStream.Next called twice without Advance");
        Refill();
        _advanced = false;
        reader = new Utf8JsonReader(_buffer.AsSpan(_start, _filled - _start), _final, _state);
        return true;
    }

    /// <summary>Records how far <paramref name="reader"/> got; what it did not consume is handed out again, with more.</summary>
    public void Advance(ref Utf8JsonReader reader)
    {
        _advanced = true;
        if (_final)
        {
            _done = true;
            return;
        }
        int consumed = (int)reader.BytesConsumed;
        _state = reader.CurrentState;
        _start += consumed;
    }

    private void Refill()
    {
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _filled - _start).CopyTo(_buffer);
            _discarded += _start;
            _filled -= _start;
            _start = 0;
        }
        if (_filled == _buffer.Length && !_final) Grow(); // the last window was one unfinished token
        while (!_final && _filled < _buffer.Length)
        {
            int n = _stream.Read(_buffer, _filled, _buffer.Length - _filled);
            if (n == 0) _final = true;
            else
            {
                _filled += n;
                BytesRead += n;
            }
        }
        if (_bomChecked) return;
        _bomChecked = true;
        // Utf8JsonReader rejects the byte-order mark that some editors (and Windows tools) put before a document.
        if (_filled >= 3 && _buffer[0] == 0xEF && _buffer[1] == 0xBB && _buffer[2] == 0xBF) _start = 3;
        IsEmpty = _final && _filled == _start;
    }

    /// <summary>One token larger than the whole buffer (a huge kernel name or string): grow, within the limit.</summary>
    private void Grow()
    {
        if (_buffer.Length >= _maxTokenBytes)
            throw new BundleException(File, Place(), $"a single JSON token is larger than {BundleLimits.Describe(_maxTokenBytes)}");
        var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min(2L * _buffer.Length, Array.MaxLength));
        _buffer.AsSpan(0, _filled).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }

    public void Dispose()
    {
        if (_buffer.Length == 0) return;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }
}
