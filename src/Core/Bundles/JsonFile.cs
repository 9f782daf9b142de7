using System.Text.Json;

namespace Magneton.Core.Bundles;

/// <summary>Loads a small JSON file of the bundle (everything but the trace) into a pooled JsonDocument.</summary>
internal static class JsonFile
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64 };

    public static JsonDocument Load(string path, string file)
    {
        var bytes = WholeFile.ReadAllBytes(path, file);
        var span = bytes.AsMemory();
        // Utf8JsonReader rejects a byte-order mark that some editors add when a file is hand-fixed.
        if (span.Span.StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) span = span[3..];
        if (span.IsEmpty) throw new BundleException(file, "file", "is empty");
        try
        {
            return JsonDocument.Parse(span, Options);
        }
        catch (JsonException ex)
        {
            throw BundleErrors.From(file, ex);
        }
    }

    /// <summary>Runs a parse over a loaded document, giving field problems their file name.</summary>
    public static T Parse<T>(string path, string file, Func<JsonElement, T> parse)
    {
        using var doc = Load(path, file);
        try
        {
            return parse(doc.RootElement);
        }
        catch (Exception ex) when (ex is JsonFieldException || (ex is not BundleException && BundleErrors.IsInputFailure(ex)))
        {
            throw BundleErrors.From(file, ex);
        }
    }
}
