using System.Text.Json.Serialization;
using Magneton.Core.Runs;

namespace Magneton.Core.Reporting;

/// <summary>A report's one-word answer (its "verdict"), from its findings and whether the runs are comparable.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ReportVerdict>))]
public enum ReportVerdict
{
    /// <summary>At least one waste finding.</summary>
    [JsonStringEnumMemberName("waste")] Waste,
    /// <summary>No waste, but a side spends more energy to be faster.</summary>
    [JsonStringEnumMemberName("trade-off")] TradeOff,
    /// <summary>A CPU capture's findings: more CPU time for the same result.</summary>
    [JsonStringEnumMemberName("cpu-time")] CpuTime,
    /// <summary>No finding.</summary>
    [JsonStringEnumMemberName("no waste")] NoWaste,
    /// <summary>The runs do not compute the same thing: no finding is made.</summary>
    [JsonStringEnumMemberName("not comparable")] NotComparable,
}

/// <summary>What a report ranks its regions and findings by (its "cost").</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CostBasis>))]
public enum CostBasis
{
    [JsonStringEnumMemberName("energy")] Energy,
    /// <summary>A side is a CPU capture: no energy was measured, CPU time stands in.</summary>
    [JsonStringEnumMemberName("cpu_time")] CpuTime,
}

/// <summary>How a report's regions were matched (its matching "mode").</summary>
[JsonConverter(typeof(JsonStringEnumConverter<MatchMode>))]
public enum MatchMode
{
    /// <summary>By tensor values (fingerprints), the method's matching.</summary>
    [JsonStringEnumMemberName("values")] Values,
    /// <summary>Plain profiler traces (Traces): by operator structure and names, no values to compare.</summary>
    [JsonStringEnumMemberName("structure")] Structure,
}

public static class ReportVocabulary
{
    public static string Json(this ReportVerdict verdict) => JsonName.Of(verdict);
    public static string Json(this CostBasis cost) => JsonName.Of(cost);
    public static string Json(this MatchMode mode) => JsonName.Of(mode);
}
