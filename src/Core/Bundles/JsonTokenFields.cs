using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Magneton.Core.Bundles;

/// <summary>
/// What <see cref="JsonFields"/> checks on a JsonElement, checked on the current token of a Utf8JsonReader with the
/// same problem texts, so that a streaming reader words a refusal exactly as the whole-document reader did. A check
/// returns the problem (null: accepted). Whatever reads past the current token returns false when the window ends
/// inside the value: the caller reads more and retries its unit.
/// </summary>
internal static class JsonTokenFields
{
    public static string Kind(JsonTokenType t) => t switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => "nothing",
    };

    /// <summary>A number token as written (what JsonElement.GetRawText gives for it).</summary>
    public static string Raw(ref Utf8JsonReader r) => Encoding.UTF8.GetString(r.ValueSpan);

    /// <summary>Moves past the value (a container to its end); false when the window ends inside it.</summary>
    public static bool Skip(ref Utf8JsonReader r) => r.TokenType is not (JsonTokenType.StartObject or JsonTokenType.StartArray) || r.TrySkip();

    public static string? Int32(ref Utf8JsonReader r, out int value)
    {
        value = 0;
        if (r.TokenType != JsonTokenType.Number) return $"expected an integer, got {Kind(r.TokenType)}";
        return r.TryGetInt32(out value) ? null : $"expected a 32-bit integer, got {Raw(ref r)}";
    }

    public static string? Int64(ref Utf8JsonReader r, out long value)
    {
        value = 0;
        if (r.TokenType != JsonTokenType.Number) return $"expected an integer, got {Kind(r.TokenType)}";
        return r.TryGetInt64(out value) ? null : $"expected an integer, got {Raw(ref r)}";
    }

    /// <summary>A finite number, or null read as NaN (the probe writes non-finite statistics as null).</summary>
    public static string? DoubleOrNaN(ref Utf8JsonReader r, out double value)
    {
        value = double.NaN;
        if (r.TokenType == JsonTokenType.Null) return null;
        if (r.TokenType != JsonTokenType.Number) return $"expected a number, got {Kind(r.TokenType)}";
        return r.TryGetDouble(out value) && double.IsFinite(value) ? null : $"number {Raw(ref r)} is out of range";
    }

    public static string? Boolean(ref Utf8JsonReader r, out bool value)
    {
        value = r.TokenType == JsonTokenType.True;
        return r.TokenType is JsonTokenType.True or JsonTokenType.False ? null : $"expected true or false, got {Kind(r.TokenType)}";
    }

    public static string? NotA(JsonTokenType expected, ref Utf8JsonReader r) =>
        r.TokenType == expected ? null : $"expected {Kind(expected)}, got {Kind(r.TokenType)}";

    /// <summary>
    /// The value as <see cref="JsonFields.Render"/> shows it: strings unquoted, numbers as written, true/false/null as
    /// words, objects and arrays as compact JSON; false when the window ends inside it.
    /// </summary>
    public static bool TryRender(ref Utf8JsonReader r, out string text)
    {
        switch (r.TokenType)
        {
            case JsonTokenType.String: text = r.GetString()!; return true;
            case JsonTokenType.Number: text = Raw(ref r); return true;
            case JsonTokenType.True: text = "true"; return true;
            case JsonTokenType.False: text = "false"; return true;
            case JsonTokenType.Null: text = "null"; return true;
            default: return TryCompact(ref r, out text);
        }
    }

    // Config values are shown to people; keep "<", "'" and non-ASCII as written rather than \u-escaped.
    private static readonly JsonWriterOptions CompactOptions = new()
    {
        Indented = false,
        SkipValidation = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>An object or array written again token by token, as JsonElement.WriteTo writes it (escapes resolved, then re-encoded).</summary>
    private static bool TryCompact(ref Utf8JsonReader r, out string text)
    {
        text = "";
        var buffer = new ArrayBufferWriter<byte>(256);
        using var writer = new Utf8JsonWriter(buffer, CompactOptions);
        var unescaped = new JsonText();
        int depth = r.CurrentDepth;
        while (true)
        {
            switch (r.TokenType)
            {
                case JsonTokenType.StartObject: writer.WriteStartObject(); break;
                case JsonTokenType.EndObject: writer.WriteEndObject(); break;
                case JsonTokenType.StartArray: writer.WriteStartArray(); break;
                case JsonTokenType.EndArray: writer.WriteEndArray(); break;
                case JsonTokenType.PropertyName: writer.WritePropertyName(unescaped.Of(ref r)); break;
                case JsonTokenType.String: writer.WriteStringValue(unescaped.Of(ref r)); break;
                case JsonTokenType.Number: writer.WriteRawValue(r.ValueSpan, skipInputValidation: true); break;
                case JsonTokenType.True or JsonTokenType.False: writer.WriteBooleanValue(r.TokenType == JsonTokenType.True); break;
                default: writer.WriteNullValue(); break;
            }
            if (r.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray && r.CurrentDepth == depth) break;
            if (!r.Read()) return false;
        }
        writer.Flush();
        text = Encoding.UTF8.GetString(buffer.WrittenSpan);
        return true;
    }
}
