using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Magneton.Core.Bundles;

/// <summary>
/// Typed, strict access to JsonElement fields. Every failure throws a JsonFieldException naming the field, which the
/// callers up the tree prefix with their own segment.
/// </summary>
internal static class JsonFields
{
    public static JsonElement Required(JsonElement obj, string name)
    {
        if (obj.ValueKind != JsonValueKind.Object) throw new JsonFieldException("", $"expected an object, got {Kind(obj)}");
        if (!obj.TryGetProperty(name, out var value)) throw new JsonFieldException(name, "is missing");
        return value;
    }

    /// <summary>False when the field is absent or JSON null: optional fields may be written either way.</summary>
    public static bool TryGet(JsonElement obj, string name, out JsonElement value)
    {
        if (obj.ValueKind != JsonValueKind.Object) throw new JsonFieldException("", $"expected an object, got {Kind(obj)}");
        return obj.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null;
    }

    public static JsonElement Object(JsonElement obj, string name) => Expect(Required(obj, name), JsonValueKind.Object, name);

    public static JsonElement Array(JsonElement obj, string name) => Expect(Required(obj, name), JsonValueKind.Array, name);

    public static string String(JsonElement obj, string name) => AsString(Required(obj, name), name);

    public static string? OptionalString(JsonElement obj, string name) =>
        TryGet(obj, name, out var v) ? AsString(v, name) : null;

    public static bool Boolean(JsonElement obj, string name)
    {
        var v = Required(obj, name);
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new JsonFieldException(name, $"expected true or false, got {Kind(v)}"),
        };
    }

    public static long Int64(JsonElement obj, string name) => AsInt64(Required(obj, name), name);

    public static int Int32(JsonElement obj, string name) => AsInt32(Required(obj, name), name);

    public static int? OptionalInt32(JsonElement obj, string name) =>
        TryGet(obj, name, out var v) ? AsInt32(v, name) : null;

    public static long OptionalInt64(JsonElement obj, string name, long absent) =>
        TryGet(obj, name, out var v) ? AsInt64(v, name) : absent;

    public static double Double(JsonElement obj, string name) => AsDouble(Required(obj, name), name);

    public static double? OptionalDouble(JsonElement obj, string name) =>
        TryGet(obj, name, out var v) ? AsDouble(v, name) : null;

    /// <summary>The probe writes non-finite statistics as null.</summary>
    public static double DoubleOrNaN(JsonElement obj, string name) => AsDoubleOrNaN(Required(obj, name), name);

    public static long[] Int64Array(JsonElement obj, string name)
    {
        var array = Expect(Required(obj, name), JsonValueKind.Array, name);
        var result = new long[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            result[i] = AsInt64(item, $"{name}[{i}]");
            i++;
        }
        return result;
    }

    public static int[] Int32Array(JsonElement obj, string name)
    {
        var array = Expect(Required(obj, name), JsonValueKind.Array, name);
        var result = new int[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            result[i] = AsInt32(item, $"{name}[{i}]");
            i++;
        }
        return result;
    }

    public static double[] DoubleArrayOrNaN(JsonElement array, string name)
    {
        Expect(array, JsonValueKind.Array, name);
        var result = new double[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            result[i] = AsDoubleOrNaN(item, $"{name}[{i}]");
            i++;
        }
        return result;
    }

    public static string[] StringArray(JsonElement obj, string name)
    {
        var array = Expect(Required(obj, name), JsonValueKind.Array, name);
        var result = new string[array.GetArrayLength()];
        int i = 0;
        foreach (var item in array.EnumerateArray())
        {
            result[i] = AsString(item, $"{name}[{i}]");
            i++;
        }
        return result;
    }

    /// <summary>A [start, end] pair of Unix nanoseconds with start &lt;= end.</summary>
    public static (long Start, long End) Window(JsonElement obj, string name)
    {
        var array = Expect(Required(obj, name), JsonValueKind.Array, name);
        if (array.GetArrayLength() != 2) throw new JsonFieldException(name, $"expected [start, end], got {array.GetArrayLength()} items");
        long start = AsInt64(array[0], name + "[0]"), end = AsInt64(array[1], name + "[1]");
        if (end < start) throw new JsonFieldException(name, $"ends ({end}) before it starts ({start})");
        return (start, end);
    }

    /// <summary>A string-valued map; values of other types are rendered as in <see cref="Render"/>.</summary>
    public static Dictionary<string, string> RenderedMap(JsonElement obj, string name)
    {
        var map = Expect(Required(obj, name), JsonValueKind.Object, name);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in map.EnumerateObject())
            if (!result.TryAdd(p.Name, Render(p.Value))) throw new JsonFieldException($"{name}.{p.Name}", "duplicate key");
        return result;
    }

    /// <summary>
    /// A JSON value as text for display and comparison of flags and config: strings unquoted, numbers exactly as
    /// written, true/false/null as words, objects and arrays as compact JSON.
    /// </summary>
    public static string Render(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Number => value.GetRawText(),
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        JsonValueKind.Null => "null",
        _ => Compact(value),
    };

    public static string AsString(JsonElement v, string name) => v.ValueKind == JsonValueKind.String
        ? v.GetString()!
        : throw new JsonFieldException(name, $"expected a string, got {Kind(v)}");

    public static long AsInt64(JsonElement v, string name)
    {
        if (v.ValueKind != JsonValueKind.Number) throw new JsonFieldException(name, $"expected an integer, got {Kind(v)}");
        if (v.TryGetInt64(out long x)) return x;
        throw new JsonFieldException(name, $"expected an integer, got {v.GetRawText()}");
    }

    public static int AsInt32(JsonElement v, string name)
    {
        if (v.ValueKind != JsonValueKind.Number) throw new JsonFieldException(name, $"expected an integer, got {Kind(v)}");
        if (v.TryGetInt32(out int x)) return x;
        throw new JsonFieldException(name, $"expected a 32-bit integer, got {v.GetRawText()}");
    }

    public static double AsDouble(JsonElement v, string name)
    {
        if (v.ValueKind != JsonValueKind.Number) throw new JsonFieldException(name, $"expected a number, got {Kind(v)}");
        if (v.TryGetDouble(out double x) && double.IsFinite(x)) return x;
        throw new JsonFieldException(name, $"number {v.GetRawText()} is out of range");
    }

    public static double AsDoubleOrNaN(JsonElement v, string name) =>
        v.ValueKind == JsonValueKind.Null ? double.NaN : AsDouble(v, name);

    public static JsonElement Expect(JsonElement v, JsonValueKind kind, string name) => v.ValueKind == kind
        ? v
        : throw new JsonFieldException(name, $"expected {Article(kind)}, got {Kind(v)}");

    public static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>A property name as a path segment; names that are not identifiers are quoted.</summary>
    public static string Segment(string parent, string key)
    {
        foreach (char c in key)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
                return $"{parent}[\"{key}\"]";
        return key.Length == 0 ? $"{parent}[\"\"]" : $"{parent}.{key}";
    }

    private static string Article(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        _ => kind.ToString().ToLowerInvariant(),
    };

    private static string Compact(JsonElement value)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions
        {
            Indented = false,
            SkipValidation = true,
            // Config values are shown to people; keep "<", "'" and non-ASCII as written rather than \u-escaped.
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }))
            value.WriteTo(writer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public static int ParseIdKey(string key, string name)
    {
        if (key.Length > 0 && key.Length <= 10 && char.IsAsciiDigit(key[0])
            && int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out int id))
            return id;
        throw new JsonFieldException(name, $"key \"{key}\" is not a non-negative integer id");
    }
}
