using System.Text.Json;
using System.Text.Json.Serialization;

namespace Magneton.Core.Runs;

/// <summary>
/// Writes and reads an enum by its <see cref="JsonName"/>, for enums where one member's JSON name is the empty
/// string (a field that reports without it, such as plain profiler traces, have always written as ""):
/// <see cref="JsonStringEnumConverter{TEnum}"/> refuses an empty member name. Set it on the enum type, so the report
/// JSON and grain calls (MagnetonSerialization) use it alike. Reading is by the exact JSON name; anything else is an
/// error, as it is for the other report enums.
/// </summary>
public sealed class JsonNameConverter<T> : JsonConverter<T> where T : struct, Enum
{
    static readonly Dictionary<string, T> ByName = Enum.GetValues<T>().ToDictionary(v => JsonName.Of(v), StringComparer.Ordinal);

    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String && ByName.TryGetValue(reader.GetString()!, out var value)
            ? value
            : throw new JsonException($"not a {typeof(T).Name}: {(reader.TokenType == JsonTokenType.String ? $"\"{reader.GetString()}\"" : reader.TokenType.ToString())}");

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) =>
        writer.WriteStringValue(JsonName.Of(value));
}
