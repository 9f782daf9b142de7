using System.Reflection;
using System.Text.Json.Serialization;

namespace Magneton.Core.Runs;

/// <summary>
/// An enum value's name in the report JSON: its <see cref="JsonStringEnumMemberNameAttribute"/>, else its C# name.
/// The attribute is the one place a wire string is written; this reads it where a report record keeps a string.
/// </summary>
public static class JsonName
{
    public static string Of<T>(T value) where T : struct, Enum => Names<T>.Map[value];

    static class Names<T> where T : struct, Enum
    {
        public static readonly IReadOnlyDictionary<T, string> Map = Enum.GetValues<T>().ToDictionary(v => v,
            v => typeof(T).GetField(v.ToString())!.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? v.ToString());
    }
}
