using System.Text.Json.Serialization;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;

namespace Magneton.Core.Campaigns;

// The campaign report ("magneton.campaign/1"): many versions of a system, each compared against one baseline.
// Property names are the interface; extend, never rename.

public sealed record CampaignReport(
    [property: JsonPropertyName("schema")] string Schema,
    [property: JsonPropertyName("baseline")] CampaignRun Baseline,
    [property: JsonPropertyName("versions")] IReadOnlyList<CampaignVersion> Versions,
    [property: JsonPropertyName("recurring_causes")] IReadOnlyList<RecurringCause> RecurringCauses,
    [property: JsonPropertyName("regressions")] IReadOnlyList<Regression> Regressions,
    [property: JsonPropertyName("threshold")] double Threshold)
{
    public const string SchemaName = "magneton.campaign/1";
    [JsonIgnore] public bool HasWaste => Versions.Any(v => v.Findings.Any(f => f.Verdict == Verdict.Waste));
}

/// <summary>One run's measured cost per iteration (the uninstrumented baseline of its capture).</summary>
public sealed record CampaignRun(
    [property: JsonPropertyName("bundle")] string Bundle,
    [property: JsonPropertyName("system")] string System,
    [property: JsonPropertyName("run_id")] string RunId,
    [property: JsonPropertyName("iteration_energy_j")] double IterationEnergyJ,
    [property: JsonPropertyName("iteration_time_s")] double IterationTimeS);

/// <summary>
/// One version against the baseline. Findings are the comparison report's (side "a" is the baseline, "b" the
/// version), so <c>wasteful: "b"</c> means the version spends more than the baseline there.
/// </summary>
public sealed record CampaignVersion(
    [property: JsonPropertyName("index")] int Index,
    [property: JsonPropertyName("run")] CampaignRun? Run,
    [property: JsonPropertyName("energy_ratio")] double EnergyRatio,
    [property: JsonPropertyName("time_ratio")] double TimeRatio,
    [property: JsonPropertyName("findings")] IReadOnlyList<FindingReport> Findings,
    [property: JsonPropertyName("job_id")] string JobId,
    [property: JsonPropertyName("error")] string? Error)
{
    [JsonPropertyName("bundle")] public string Bundle { get; init; } = "";
    /// <summary>Waste findings where the version is the wasteful side.</summary>
    [JsonPropertyName("waste_in_version")] public int WasteInVersion => Findings.Count(f => f.Verdict == Verdict.Waste && f.Wasteful == Side.B);
    /// <summary>Waste findings where the baseline is the wasteful side (the version improved there).</summary>
    [JsonPropertyName("waste_in_baseline")] public int WasteInBaseline => Findings.Count(f => f.Verdict == Verdict.Waste && f.Wasteful == Side.A);
}

/// <summary>A cause (kind, place, wasteful side) that shows up in more than one version.</summary>
public sealed record RecurringCause(
    [property: JsonPropertyName("kind")] CauseKind Kind,
    [property: JsonPropertyName("where")] string Where,
    [property: JsonPropertyName("wasteful")] Side Wasteful,
    [property: JsonPropertyName("versions")] IReadOnlyList<int> Versions,
    [property: JsonPropertyName("mean_energy_ratio")] double MeanEnergyRatio);

/// <summary>
/// A version that costs more than the one before it (beyond the threshold), or that has waste findings the
/// one before it did not have.
/// </summary>
public sealed record Regression(
    [property: JsonPropertyName("from")] int From,
    [property: JsonPropertyName("to")] int To,
    [property: JsonPropertyName("energy_ratio")] double EnergyRatio,
    [property: JsonPropertyName("new_findings")] IReadOnlyList<string> NewFindings);

/// <summary>What a campaign knows about one version once its comparison ended.</summary>
public sealed record VersionOutcome(int Index, string Bundle, string RunId, string JobId, ComparisonReport? Report, string? Error);

public static class CampaignReportBuilder
{
    /// <summary>The campaign report from the baseline's and the versions' outcomes (in version order).</summary>
    public static CampaignReport Build(string baselineRunId, IReadOnlyList<VersionOutcome> versions, double threshold)
    {
        var baselineSide = versions.Select(v => v.Report?.A).FirstOrDefault(a => a is not null);
        var baseline = baselineSide is null
            ? new CampaignRun("", "", baselineRunId, double.NaN, double.NaN)
            : Run(baselineSide, baselineRunId);

        var rows = versions.OrderBy(v => v.Index).Select(v =>
        {
            if (v.Report is not { } r)
                return new CampaignVersion(v.Index, null, double.NaN, double.NaN, [], v.JobId, v.Error) { Bundle = v.Bundle };
            return new CampaignVersion(v.Index, Run(r.B, v.RunId),
                Ratio(r.B.IterationEnergyJ, r.A.IterationEnergyJ), Ratio(r.B.IterationTimeS, r.A.IterationTimeS),
                r.Findings, v.JobId, v.Error) { Bundle = v.Bundle };
        }).ToList();

        return new CampaignReport(CampaignReport.SchemaName, baseline, rows, Recurring(rows), Regressions(rows, threshold), threshold);
    }

    static CampaignRun Run(RunSide side, string runId) =>
        new(side.Bundle, side.System, runId, side.IterationEnergyJ, side.IterationTimeS);

    static double Ratio(double x, double y) => y > 0 ? x / y : double.NaN;

    /// <summary>The identity of a finding across versions: its cause kind, where it is, and which side wastes.</summary>
    static string KeyOf(FindingReport f) => $"{f.Cause.Kind.Json()} {f.Where} (waste in {(f.Wasteful == Side.B ? "version" : "baseline")})";

    static List<RecurringCause> Recurring(List<CampaignVersion> rows) =>
        rows.SelectMany(v => v.Findings.Where(f => f.Verdict == Verdict.Waste).Select(f => (v.Index, f)))
            .GroupBy(x => (x.f.Cause.Kind, x.f.Where, x.f.Wasteful))
            .Select(g => new RecurringCause(g.Key.Kind, g.Key.Where, g.Key.Wasteful,
                [.. g.Select(x => x.Index).Distinct().Order()], g.Average(x => x.f.EnergyRatio)))
            .Where(c => c.Versions.Count >= 2)
            .OrderByDescending(c => c.Versions.Count).ThenBy(c => c.Where, StringComparer.Ordinal)
            .ToList();

    static bool Costly(FindingReport f, bool cpu) => f.Verdict == Verdict.Waste || (cpu && f.Verdict == Verdict.CpuTime);

    static List<Regression> Regressions(List<CampaignVersion> rows, double threshold)
    {
        var list = new List<Regression>();
        for (int i = 1; i < rows.Count; i++)
        {
            CampaignVersion before = rows[i - 1], after = rows[i];
            if (before.Run is null || after.Run is null) continue;
            // CPU captures measure no energy (0): their cost is CPU time, and their findings' verdict is cpu-time.
            bool cpu = !(before.Run.IterationEnergyJ > 0 && after.Run.IterationEnergyJ > 0);
            double ratio = cpu ? Ratio(after.Run.IterationTimeS, before.Run.IterationTimeS) : Ratio(after.Run.IterationEnergyJ, before.Run.IterationEnergyJ);
            var old = before.Findings.Where(f => Costly(f, cpu) && f.Wasteful == Side.B).Select(KeyOf).ToHashSet();
            var added = after.Findings.Where(f => Costly(f, cpu) && f.Wasteful == Side.B).Select(KeyOf)
                .Where(k => !old.Contains(k)).Distinct().ToList();
            if (ratio > 1 + threshold || added.Count > 0)
                list.Add(new Regression(before.Index, after.Index, ratio, added));
        }
        return list;
    }
}
