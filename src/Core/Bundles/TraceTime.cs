using System.Buffers.Text;

namespace Magneton.Core.Bundles;

/// <summary>
/// The one parser of trace timestamps (bundle and plain traces alike). Kineto writes ts/dur as fractional
/// microseconds ("4847596376421.436"): 16 significant digits, at the edge of a double. Parsing the digits straight
/// into integer nanoseconds keeps containment tests exact and is faster. Some traces write integer nanoseconds
/// instead (19 digits); a value too large to be microseconds comes back as nanoseconds, flagged.
/// </summary>
internal static class TraceTime
{
    /// <summary>Microsecond values at or above this are nanoseconds (9e15 us is 285 years; 9e18 ns is a long's limit).</summary>
    public const long NanosecondThreshold = 9_000_000_000_000_000;

    /// <summary>
    /// Decimal microseconds (or, when <paramref name="isNanoseconds"/>, integer nanoseconds) to integer nanoseconds.
    /// Accepts what a JSON number or a numeric string holds: sign, digits, optional fraction, exponent.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out long value, out bool isNanoseconds)
    {
        value = 0;
        isNanoseconds = false;
        int i = 0;
        bool negative = false;
        if (text.Length > 0 && (text[0] == (byte)'-' || text[0] == (byte)'+'))
        {
            negative = text[0] == (byte)'-';
            i = 1;
        }
        long whole = 0;
        int digits = 0;
        for (; i < text.Length; i++)
        {
            uint d = (uint)(text[i] - '0');
            if (d > 9) break;
            if (++digits > 18) return Slow(text, out value, out isNanoseconds);
            whole = whole * 10 + d;
        }
        if (digits == 0) return Slow(text, out value, out isNanoseconds);
        long fraction = 0;
        if (i < text.Length && text[i] == (byte)'.')
        {
            i++;
            int fractionDigits = 0;
            for (; i < text.Length; i++)
            {
                uint d = (uint)(text[i] - '0');
                if (d > 9) break;
                if (fractionDigits < 3) fraction = fraction * 10 + d;
                else if (fractionDigits == 3 && d >= 5) fraction++; // round half up on the first dropped digit
                fractionDigits++;
            }
            for (int k = Math.Min(fractionDigits, 3); k < 3; k++) fraction *= 10;
        }
        if (i < text.Length) return Slow(text, out value, out isNanoseconds); // exponent form
        if (whole >= NanosecondThreshold)
        {
            isNanoseconds = true;
            value = whole + (fraction >= 500 ? 1 : 0);
        }
        else value = whole * 1000 + fraction;
        if (negative) value = -value;
        return true;
    }

    /// <summary>A bundle's trace (our own capture) is in microseconds: a value that can only be nanoseconds is refused.</summary>
    public static bool TryParseMicrosAsNanos(ReadOnlySpan<byte> text, out long nanos) =>
        TryParse(text, out nanos, out bool isNanoseconds) && !isNanoseconds;

    private static bool Slow(ReadOnlySpan<byte> text, out long value, out bool isNanoseconds)
    {
        value = 0;
        isNanoseconds = false;
        if (Utf8Parser.TryParse(text, out long integer, out int consumed) && consumed == text.Length)
        {
            // 19 digits: only nanoseconds are that large.
            isNanoseconds = Math.Abs(integer) >= NanosecondThreshold;
            value = isNanoseconds ? integer : integer * 1000;
            return true;
        }
        if (!Utf8Parser.TryParse(text, out double micros, out int used) || used != text.Length || !double.IsFinite(micros))
        {
            if (!Utf8Parser.TryParse(text, out micros, out used, 'E') || used != text.Length || !double.IsFinite(micros)) return false;
        }
        if (Math.Abs(micros) >= NanosecondThreshold)
        {
            if (Math.Abs(micros) > 9.2e18) return false;
            isNanoseconds = true;
            value = (long)Math.Round(micros);
            return true;
        }
        value = (long)Math.Round(micros * 1000.0);
        return true;
    }
}
