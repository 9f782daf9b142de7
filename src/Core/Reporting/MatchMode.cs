using System.Text.Json.Serialization;
using Magneton.Core.Runs;

namespace Magneton.Core.Reporting;

/// <summary>How a report's regions were matched (its matching "mode").</summary>
[JsonConverter(typeof(JsonStringEnumConverter<MatchMode>))]
public enum MatchMode
{
    /// <summary>By tensor values (fingerprints), the method's matching.</summary>
    [JsonStringEnumMemberName("values")] Values,
    /// <summary>Plain profiler traces (Traces): by operator structure and names, no values to compare.</summary>
    [JsonStringEnumMemberName("structure")] Structure,
}

public static class MatchModes
{
    public static string Json(this MatchMode mode) => JsonName.Of(mode);
}
