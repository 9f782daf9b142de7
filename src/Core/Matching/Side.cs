using System.Text.Json.Serialization;
using Magneton.Core.Runs;

namespace Magneton.Core.Matching;

/// <summary>One side of a comparison: A (the first run given) or B. "a" and "b" in JSON.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Side>))]
public enum Side
{
    [JsonStringEnumMemberName("a")] A,
    [JsonStringEnumMemberName("b")] B,
}

public static class Sides
{
    /// <summary>"a" or "b", as the report JSON writes a side.</summary>
    public static string Json(this Side side) => JsonName.Of(side);

    /// <summary>"A" or "B", as reports name a side in text.</summary>
    public static string Label(this Side side) => side == Side.A ? "A" : "B";

    public static Side Other(this Side side) => side == Side.A ? Side.B : Side.A;

    /// <summary>The side that spends more, given whether it is A.</summary>
    public static Side Of(bool isA) => isA ? Side.A : Side.B;
}
