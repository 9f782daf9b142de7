using System.Text.Json.Serialization;
using Magneton.Core.Runs;

namespace Magneton.Core.Detection;

/// <summary>Why two sides of a site differ, most specific first (see <see cref="CauseClassifier"/>); JSON names as in the report.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CauseKind>))]
public enum CauseKind
{
    /// <summary>
    /// Not decided yet: a finding made before grouping (grouping gives every finding of Detector a kind). Was ""
    /// when the kind was a string; System.Text.Json allows no empty enum name.
    /// </summary>
    [JsonStringEnumMemberName("none")] None,
    [JsonStringEnumMemberName("layout")] Layout,
    [JsonStringEnumMemberName("redundant")] Redundant,
    [JsonStringEnumMemberName("operator-set")] OperatorSet,
    [JsonStringEnumMemberName("kernel-choice")] KernelChoice,
    [JsonStringEnumMemberName("config")] Config,
    [JsonStringEnumMemberName("unknown")] Unknown,
    /// <summary>A plain profiler trace's cause (Traces): the same operators, and one side's take longer or record no GPU work.</summary>
    [JsonStringEnumMemberName("time")] Time,
}

public static class CauseKinds
{
    public static string Json(this CauseKind kind) => JsonName.Of(kind);
}
