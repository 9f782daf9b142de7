using System.Text.Json.Serialization;

namespace Magneton.Core.Reporting;

/// <summary>What a report ranks its regions and findings by (its "cost").</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CostBasis>))]
public enum CostBasis
{
    [JsonStringEnumMemberName("energy")] Energy,
    /// <summary>A side is a CPU capture: no energy was measured, CPU time stands in.</summary>
    [JsonStringEnumMemberName("cpu_time")] CpuTime,
}
