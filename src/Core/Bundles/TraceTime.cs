using System.Buffers.Text;

namespace Magneton.Core.Bundles;

/// <summary>
/// Kineto writes ts/dur as fractional microseconds ("4847596376421.436"): 16 significant digits, at the edge of a
/// double. Parsing the digits straight into integer nanoseconds keeps containment tests exact and is faster.
/// </summary>
internal static class TraceTime
{
    public static bool TryParseMicrosAsNanos(ReadOnlySpan<byte> text, out long nanos)
    {
        nanos = 0;
        int i = 0;
        bool negative = false;
        if (text.Length > 0 && text[0] == (byte)'-')
        {
            negative = true;
            i = 1;
        }

        long whole = 0;
        int wholeDigits = 0;
        for (; i < text.Length; i++)
        {
            uint d = (uint)(text[i] - '0');
            if (d > 9) break;
            if (++wholeDigits > 15) return Slow(text, out nanos);
            whole = whole * 10 + d;
        }
        if (wholeDigits == 0) return false;

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
            if (fractionDigits == 0) return false;
            for (int k = Math.Min(fractionDigits, 3); k < 3; k++) fraction *= 10;
        }
        if (i < text.Length) return Slow(text, out nanos); // exponent form

        nanos = whole * 1000 + fraction;
        if (negative) nanos = -nanos;
        return true;
    }

    private static bool Slow(ReadOnlySpan<byte> text, out long nanos)
    {
        nanos = 0;
        if (!Utf8Parser.TryParse(text, out double micros, out int used, 'E') || used != text.Length) return false;
        double ns = Math.Round(micros * 1000.0);
        if (!double.IsFinite(ns) || Math.Abs(ns) > 9e18) return false;
        nanos = (long)ns;
        return true;
    }
}
