using System.IO.Compression;
using System.Text.Json;

namespace Magneton.Core.Bundles;

/// <summary>Turns whatever the runtime throws on bad input into the one-line BundleException the CLI prints.</summary>
internal static class BundleErrors
{
    /// <summary>Exception types that mean "this input is broken or unreadable" rather than "this code is broken".</summary>
    public static bool IsInputFailure(Exception ex) => ex is IOException or UnauthorizedAccessException
        or InvalidDataException or JsonException or FormatException or OverflowException or NotSupportedException
        or System.Security.SecurityException or ArgumentException or InvalidOperationException or KeyNotFoundException
        or IndexOutOfRangeException or OutOfMemoryException;

    public static BundleException From(string file, Exception ex) => ex switch
    {
        BundleException b => b,
        JsonFieldException f => new BundleException(file, f.Path, OneLine(f.Problem)),
        JsonException j => new BundleException(file, JsonPosition(j), "malformed JSON: " + OneLine(StripPosition(j.Message))),
        EndOfStreamException => new BundleException(file, "data", "ends early (truncated): " + OneLine(ex.Message)),
        InvalidDataException => new BundleException(file, "gzip", "corrupt or truncated compressed data: " + OneLine(ex.Message)),
        FileNotFoundException or DirectoryNotFoundException => new BundleException(file, "file", "not found: " + OneLine(ex.Message)),
        UnauthorizedAccessException => new BundleException(file, "file", "access denied: " + OneLine(ex.Message)),
        IOException => new BundleException(file, "file", "cannot be read: " + OneLine(ex.Message)),
        OutOfMemoryException => new BundleException(file, "file", "too large to hold in memory"),
        _ => new BundleException(file, "file", $"{ex.GetType().Name}: {OneLine(ex.Message)}"),
    };

    public static string OneLine(string text)
    {
        if (text.AsSpan().IndexOfAny('\r', '\n') < 0) return text.Trim();
        return string.Join(' ', text.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    /// <summary>What a JsonException says is wrong, without the runtime's own position suffix, on one line.</summary>
    public static string JsonProblem(JsonException j) => OneLine(StripPosition(j.Message));

    /// <summary>"line L, byte B" counted from one (the runtime counts from zero; editors from one), else "json".</summary>
    public static string LineAndByte(JsonException j) =>
        j.LineNumber is { } line ? $"line {line + 1}, byte {(j.BytePositionInLine ?? 0) + 1}" : "json";

    private static string JsonPosition(JsonException j)
    {
        var at = LineAndByte(j);
        return string.IsNullOrEmpty(j.Path) || j.Path == "$" ? at : $"{j.Path} ({at})";
    }

    private static string StripPosition(string message)
    {
        // The runtime appends its own zero-based "LineNumber: 3 | BytePositionInLine: 4." which would contradict ours.
        int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
