using System.Text.Json.Serialization;

namespace Magneton.Core.Detection;

/// <summary>
/// One configuration key whose values differ between two runs (null: unset on that side). In Detection, where the
/// classifier reads it, so that the report records (which name Detection's enums) do not make a namespace cycle.
/// </summary>
public sealed record ConfigDifference(
    [property: JsonPropertyName("key")] string Key,
    [property: JsonPropertyName("a")] string? A,
    [property: JsonPropertyName("b")] string? B);
