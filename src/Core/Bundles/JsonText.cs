using System.Text.Json;

namespace Magneton.Core.Bundles;

/// <summary>A string token's text with escapes resolved, in a reused buffer (valid until the next call).</summary>
internal sealed class JsonText
{
    private byte[] _scratch = new byte[256];
    private byte[] _held = new byte[512];
    private int _heldLength = -1;

    public ReadOnlySpan<byte> Of(ref Utf8JsonReader r)
    {
        if (!r.ValueIsEscaped) return r.ValueSpan;
        if (_scratch.Length < r.ValueSpan.Length) _scratch = new byte[Math.Max(r.ValueSpan.Length, _scratch.Length * 2)];
        int n = r.CopyString(_scratch);
        return _scratch.AsSpan(0, n);
    }

    /// <summary>
    /// Keeps a copy of the current string token's text (an event's name, read before the fields that decide what
    /// the event is): <see cref="Held"/> until the next <see cref="Hold"/> or <see cref="Release"/>. A token that is
    /// not a string is not held (false), and what was held stays.
    /// </summary>
    public bool Hold(ref Utf8JsonReader r)
    {
        if (r.TokenType != JsonTokenType.String) return false;
        var text = Of(ref r);
        if (_held.Length < text.Length) _held = new byte[Math.Max(text.Length, _held.Length * 2)];
        text.CopyTo(_held);
        _heldLength = text.Length;
        return true;
    }

    public void Release() => _heldLength = -1;

    public bool IsHeld => _heldLength >= 0;

    public ReadOnlySpan<byte> Held => _held.AsSpan(0, Math.Max(0, _heldLength));
}
