using System.Text.Json.Serialization;

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
