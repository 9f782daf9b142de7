using System.Text.Json.Serialization;
using Magneton.Core.Reporting;

namespace Magneton.Core.Audits;

/// <summary>How a node's iteration energy moved since the previous audit of the same system.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TrendDirection>))]
public enum TrendDirection
{
    /// <summary>Rose by more than the sensor tolerance: flagged, compared operator by operator with its own previous run.</summary>
    [JsonStringEnumMemberName("rose")] Rose,
    [JsonStringEnumMemberName("fell")] Fell,
    /// <summary>Moved by less than the sensor tolerance: no evidence of a change.</summary>
    [JsonStringEnumMemberName("within sensor error")] WithinSensorError,
    /// <summary>Not in the previous audit.</summary>
    [JsonStringEnumMemberName("new")] New,
}

/// <summary>The audit against the previous audit of the same system: every node against its own previous run.</summary>
public sealed record AuditTrend(
    [property: JsonPropertyName("previous_audit")] string PreviousAudit,
    [property: JsonPropertyName("previous_date")] DateTimeOffset PreviousDate,
    [property: JsonPropertyName("sensor_tolerance")] double SensorTolerance,
    [property: JsonPropertyName("nodes")] IReadOnlyList<NodeTrend> Nodes);

/// <summary>
/// One node now and in the previous audit. <see cref="Findings"/> is the operator-level comparison of the previous run
/// (side "a") with this one (side "b"), made for a node whose energy rose.
/// </summary>
public sealed record NodeTrend(
    [property: JsonPropertyName("node")] string Node,
    [property: JsonPropertyName("run_id")] string RunId,
    [property: JsonPropertyName("previous_run_id")] string? PreviousRunId,
    [property: JsonPropertyName("iteration_energy_j")] double IterationEnergyJ,
    [property: JsonPropertyName("previous_iteration_energy_j")] double? PreviousIterationEnergyJ,
    [property: JsonPropertyName("energy_change")] double? EnergyChange,
    [property: JsonPropertyName("time_change")] double? TimeChange,
    [property: JsonPropertyName("direction")] TrendDirection Direction)
{
    [JsonPropertyName("flagged")] public bool Flagged => Direction == TrendDirection.Rose;
    [JsonPropertyName("findings")] public IReadOnlyList<FindingReport> Findings { get; init; } = [];
    [JsonPropertyName("job_id")] public string? JobId { get; init; }
}

/// <summary>A node of the previous audit, as its history entry remembers it.</summary>
public sealed record PreviousNode(string Node, string RunId, double IterationEnergyJ, double IterationTimeS);

public static class AuditTrends
{
    /// <summary>
    /// Each node of this audit against the same node (by name) in the previous one. A change within
    /// <paramref name="tolerance"/> (the sensor's stated accuracy) is no evidence either way.
    /// </summary>
    public static IReadOnlyList<NodeTrend> Compare(IReadOnlyList<AuditNode> nodes, IReadOnlyList<PreviousNode> previous, double tolerance)
    {
        var before = previous.GroupBy(p => p.Node, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        return [.. nodes.Select(n =>
        {
            if (!before.TryGetValue(n.Host, out var p) || p.IterationEnergyJ <= 0)
                return new NodeTrend(n.Host, n.RunId, null, n.IterationEnergyJ, null, null, null, TrendDirection.New);
            double change = n.IterationEnergyJ / p.IterationEnergyJ - 1;
            double? time = p.IterationTimeS > 0 ? n.IterationTimeS / p.IterationTimeS - 1 : null;
            var direction = change > tolerance ? TrendDirection.Rose
                : change < -tolerance ? TrendDirection.Fell
                : TrendDirection.WithinSensorError;
            return new NodeTrend(n.Host, n.RunId, p.RunId, n.IterationEnergyJ, p.IterationEnergyJ, change, time, direction);
        })];
    }
}
