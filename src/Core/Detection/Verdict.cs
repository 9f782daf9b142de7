using System.Text.Json.Serialization;
using Magneton.Core.Runs;

namespace Magneton.Core.Detection;

/// <summary>What a finding claims. The JSON names ("waste", ...) are the report's verdict strings.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<Verdict>))]
public enum Verdict
{
    /// <summary>More energy for the same result, and the efficient side is not slower.</summary>
    [JsonStringEnumMemberName("waste")] Waste,
    /// <summary>More energy, but the efficient side is slower.</summary>
    [JsonStringEnumMemberName("trade-off")] TradeOff,
    /// <summary>The point ratio clears the threshold but its lower bound does not: possible, below resolution.</summary>
    [JsonStringEnumMemberName("possible")] Possible,
    /// <summary>A CPU capture's finding: more CPU time for the same result (no energy was measured).</summary>
    [JsonStringEnumMemberName("cpu-time")] CpuTime,
    /// <summary>A plain profiler trace's finding (Traces): more GPU time, no energy and no values to compare.</summary>
    [JsonStringEnumMemberName("slower")] Slower,
}

public static class Verdicts
{
    public static string Json(this Verdict verdict) => JsonName.Of(verdict);
}
