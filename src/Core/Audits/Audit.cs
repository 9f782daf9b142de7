using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Magneton.Core.Detection;
using Magneton.Core.Reporting;
using Magneton.Core.Runs;

namespace Magneton.Core.Audits;

// The audit report ("magneton.audit/1"): one job captured on many nodes. Property names are the interface.

public sealed record AuditReport(
    [property: JsonPropertyName("schema")] string Schema,
    [property: JsonPropertyName("job")] string Job,
    [property: JsonPropertyName("nodes")] IReadOnlyList<AuditNode> Nodes,
    [property: JsonPropertyName("median_iteration_energy_j")] double MedianEnergyJ,
    [property: JsonPropertyName("mad_iteration_energy_j")] double MadEnergyJ,
    [property: JsonPropertyName("typical_node")] int TypicalNode,
    [property: JsonPropertyName("outliers")] IReadOnlyList<AuditOutlier> Outliers,
    [property: JsonPropertyName("notes")] IReadOnlyList<string> Notes)
{
    public const string SchemaName = "magneton.audit/1";

    /// <summary>What differences the audit can resolve (sensor tolerance, spread of the typical nodes).</summary>
    [JsonPropertyName("resolution")] public AuditResolution? Resolution { get; init; }

    /// <summary>When the audit was made (an audit of fresh captures: the date it is stored under).</summary>
    [JsonPropertyName("date")] public DateTimeOffset? Date { get; init; }

    /// <summary>Every node against its own run in the previous audit of the same system; null for the first audit.</summary>
    [JsonPropertyName("trend")] public AuditTrend? Trend { get; init; }

    /// <summary>Nodes whose capture failed (an audit of fresh captures): worker and reason.</summary>
    [JsonPropertyName("failed_captures")] public IReadOnlyList<string> FailedCaptures { get; init; } = [];

    /// <summary>
    /// False with fewer than <see cref="AuditAnalysis.MinNodesForOutliers"/> nodes: there is no median and spread to
    /// measure against, so no node is named an outlier and none is cleared either.
    /// </summary>
    [JsonPropertyName("outliers_decidable")]
    public bool OutliersDecidable => Nodes.Count >= AuditAnalysis.MinNodesForOutliers;

    /// <summary>The verdict in words, as the terminal summary and the HTML page say it.</summary>
    public string Verdict() =>
        Outliers.Count > 0
            ? $"{Outliers.Count} outlier node{(Outliers.Count == 1 ? "" : "s")}: " + string.Join(", ", Outliers.Select(o => NodeName(o.Node)))
            : OutliersDecidable
                ? "No outlier node"
                : $"Cannot name an outlier: {Nodes.Count} node{(Nodes.Count == 1 ? "" : "s")}, an outlier needs at least {AuditAnalysis.MinNodesForOutliers} to measure against";

    /// <summary>"index (host)".</summary>
    public string NodeName(int index) =>
        Nodes.FirstOrDefault(n => n.Index == index) is { } n ? $"{index} ({n.Host})" : index.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>One node's capture of the job: where it ran and what an iteration cost there.</summary>
public sealed record AuditNode(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("bundle")] string Bundle,
    [property: JsonPropertyName("run_id")] string RunId,
    [property: JsonPropertyName("host")] string Host,
    [property: JsonPropertyName("gpu")] string? Gpu,
    [property: JsonPropertyName("driver")] string? Driver,
    [property: JsonPropertyName("power_limit_w")] double? PowerLimitW,
    [property: JsonPropertyName("iteration_energy_j")] double IterationEnergyJ,
    [property: JsonPropertyName("iteration_time_s")] double IterationTimeS,
    [property: JsonPropertyName("energy_score")] double EnergyScore,
    [property: JsonPropertyName("outlier")] bool Outlier)
{
    /// <summary>Its difference from the median is below the audit's resolution (<see cref="AuditResolution"/>).</summary>
    [JsonPropertyName("within_sensor_error")] public bool WithinSensorError { get; init; }
}

/// <summary>An outlier node compared operator by operator against the most typical node (side "a").</summary>
public sealed record AuditOutlier(
    [property: JsonPropertyName("node")] int Node,
    [property: JsonPropertyName("energy_ratio")] double EnergyRatio,
    [property: JsonPropertyName("time_ratio")] double TimeRatio,
    [property: JsonPropertyName("node_differences")] IReadOnlyList<ConfigDifference> NodeDifferences,
    [property: JsonPropertyName("findings")] IReadOnlyList<FindingReport> Findings,
    [property: JsonPropertyName("job_id")] string? JobId);

/// <summary>What the audit needs of one node's run (small: it crosses grain calls and is stored).</summary>
public sealed record AuditInput(int Index, string Bundle, string RunId, string JobSignature, string Host, string? Gpu,
    string? Driver, double? PowerLimitW, double IterationEnergyJ, double IterationTimeS);

public static class AuditAnalysis
{
    /// <summary>
    /// Robust score above which a node is an outlier: |x - median| / (1.4826 MAD) > 3.5, the usual modified z
    /// cut. The MAD is floored at 1% of the median, so that nodes agreeing to within measurement noise (two
    /// identical runs differ by a few percent) are never outliers.
    /// </summary>
    public const double OutlierScore = 3.5;
    public const double MadFloor = 0.01;
    public const int MinNodesForOutliers = 3;

    /// <summary>
    /// The identity of the job a run performed: its operators, in order, with their output shapes. Captures of
    /// the same job on different nodes agree; different models, batch sizes or settings that change the graph
    /// do not.
    /// </summary>
    public static string JobSignature(Run run)
    {
        // Hashed a node at a time: a million-operator run would otherwise build a string of tens of MB.
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var text = new StringBuilder();
        foreach (var n in run.Bundle.Dataflow.Nodes)
        {
            text.Clear().Append(n.Op).Append('(');
            foreach (var v in n.Out)
                if (run.Bundle.Dataflow.Values.TryGetValue(v, out var value)) text.Append(string.Join('x', value.Shape)).Append(';');
            text.Append(')').Append('\n');
            hash.AppendData(Encoding.UTF8.GetBytes(text.ToString()));
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset(), 0, 8);
    }

    /// <summary>Scores every node and picks the outliers and the most typical node (closest to the median).</summary>
    public static (IReadOnlyList<AuditNode> Nodes, double Median, double Mad, int Typical) Score(IReadOnlyList<AuditInput> inputs,
        double sensorTolerance = AuditResolution.NvmlSensorTolerance)
    {
        var energies = inputs.Select(i => i.IterationEnergyJ).ToArray();
        double median = Median(energies);
        double mad = Median(energies.Select(e => Math.Abs(e - median)).ToArray());
        double scale = 1.4826 * Math.Max(mad, MadFloor * Math.Abs(median));
        bool canFlag = inputs.Count >= MinNodesForOutliers;
        var nodes = inputs.Select(i =>
        {
            double score = scale > 0 ? (i.IterationEnergyJ - median) / scale : 0;
            return new AuditNode(i.Index, i.Bundle, i.RunId, i.Host, i.Gpu, i.Driver, i.PowerLimitW, i.IterationEnergyJ,
                i.IterationTimeS, score, canFlag && Math.Abs(score) > OutlierScore);
        }).ToList();
        // A robust score cannot make a difference the sensors cannot resolve into evidence.
        var resolution = AuditResolution.Of(median, mad, sensorTolerance);
        nodes = nodes.Select(n => resolution.Within(n.IterationEnergyJ, median)
            ? n with { Outlier = false, WithinSensorError = true }
            : n).ToList();
        int typical = nodes.OrderBy(n => Math.Abs(n.IterationEnergyJ - median)).ThenBy(n => n.Index).First().Index;
        return (nodes, median, mad, typical);
    }

    /// <summary>Differences of node metadata between the typical node and an outlier: GPU, driver, power limit.</summary>
    public static IReadOnlyList<ConfigDifference> NodeDifferences(AuditNode typical, AuditNode outlier)
    {
        var list = new List<ConfigDifference>();
        void Add(string key, string? a, string? b)
        {
            if (!string.Equals(a, b, StringComparison.Ordinal)) list.Add(new ConfigDifference(key, a, b));
        }
        Add("gpu", typical.Gpu, outlier.Gpu);
        Add("driver", typical.Driver, outlier.Driver);
        Add("power_limit_w", typical.PowerLimitW?.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture),
            outlier.PowerLimitW?.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture));
        return list;
    }

    static double Median(double[] xs)
    {
        if (xs.Length == 0) return double.NaN;
        var s = xs.Order().ToArray();
        return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
    }
}
