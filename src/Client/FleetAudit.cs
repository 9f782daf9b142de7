using System.Globalization;
using Magneton.Core.Audits;
using Magneton.Grains;

namespace Magneton.Client;

/// <summary>
/// <c>magneton audit --capture</c>: the reference job captured on every selected worker GPU, the audit of those fresh
/// runs (each node named by its worker, <c>node/gpuN</c>), every node compared with its own run in the previous audit of
/// the same system (a node whose energy rose beyond the sensor tolerance is compared operator by operator with that
/// run), and the report stored in the cluster's history under the system and date.
/// </summary>
internal static class FleetAudit
{
    public sealed record Arguments(ClusterTarget Cluster, string System, IReadOnlyList<string>? Nodes, IReadOnlyList<int>? Gpus,
        FleetCapture.Workload Workload, string[] ProbeArguments, DateTimeOffset Date, double SensorTolerance, double Threshold);

    /// <summary>The stored audit, or the reason there is none (fewer than two captures succeeded).</summary>
    public sealed record Outcome(AuditReport? Report, StoredReport? Stored, string? Failure);

    public static async Task<Outcome> RunAsync(Arguments a, TextWriter log, CancellationToken ct)
    {
        await using var connection = await ClusterConnection.ConnectAsync(a.Cluster, ct).ConfigureAwait(false);
        var workers = FleetCapture.Select(await FleetCapture.AliveWorkersAsync(connection, ct).ConfigureAwait(false), a.Nodes, a.Gpus);
        // A worker is one GPU; --gpus picks which of each node's workers take part.
        await log.WriteLineAsync($"audit {a.System}: capturing {a.Workload} on {workers.Count} GPU(s) of "
            + $"{workers.Select(w => w.Info.Node).Distinct().Count()} node(s)").ConfigureAwait(false);
        var specs = workers.Select(w => a.Workload.Spec(a.System, w.Info.WorkerId, w.Info.Node, a.ProbeArguments)).ToList();
        var jobs = await FleetCapture.RunAsync(connection, specs, log, ct).ConfigureAwait(false);

        var done = jobs.Where(j => j.State == CaptureState.Done && j.RunId is not null).ToList();
        var failed = jobs.Where(j => j.State != CaptureState.Done).Select(j => $"{j.Spec.Worker}: {j.Error}").ToList();
        if (done.Count < 2)
            return new Outcome(null, null, $"audit {a.System}: {done.Count} of {jobs.Count} capture(s) succeeded; an audit needs at least 2"
                + (failed.Count > 0 ? $" ({failed[0]})" : ""));

        var report = await AuditCommand.AuditAsync(connection, [.. done.Select(j => RunRef.Stored(j.RunId!))], a.Threshold, log, ct,
            [.. done.Select(j => j.Spec.Worker!)], a.SensorTolerance).ConfigureAwait(false);
        report = report with { Date = a.Date, FailedCaptures = failed };
        var previous = await ReportHistoryCommand.PreviousAsync(connection, ReportKind.Audit, a.System, a.Date, ct).ConfigureAwait(false);
        if (previous is not null) report = report with { Trend = await TrendAsync(connection, report, previous, a, log, ct).ConfigureAwait(false) };

        var entry = new StoredReport("", ReportKind.Audit, a.System, a.Date, report.Verdict(), [.. report.Nodes.Select(n => new ReportItem(
            n.Host, n.RunId, n.IterationEnergyJ, n.IterationTimeS, n.Outlier || report.Trend?.Nodes.Any(t => t.Node == n.Host && t.Flagged) == true))]);
        var stored = await ReportHistoryCommand.StoreAsync(connection, entry, AuditCommand.Json(report), ct).ConfigureAwait(false);
        return new Outcome(report, stored, null);
    }

    /// <summary>Every node against its previous run; a node whose energy rose is compared with that run, operator by operator.</summary>
    static async Task<AuditTrend> TrendAsync(ClusterConnection connection, AuditReport report, StoredReport previous, Arguments a,
        TextWriter log, CancellationToken ct)
    {
        var before = previous.Items.Select(i => new PreviousNode(i.Name, i.RunId, i.IterationEnergyJ, i.IterationTimeS)).ToList();
        var nodes = new List<NodeTrend>();
        foreach (var t in AuditTrends.Compare(report.Nodes, before, a.SensorTolerance))
        {
            if (!t.Flagged || t.PreviousRunId is null || t.PreviousRunId == t.RunId) { nodes.Add(t); continue; }
            await log.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{t.Node}: energy {t.EnergyChange:+0.0%;-0.0%} since {previous.Date.UtcDateTime:yyyy-MM-dd}: comparing it with its previous run")).ConfigureAwait(false);
            var request = new CompareRequest(RunRef.Stored(t.PreviousRunId), RunRef.Stored(t.RunId), a.Threshold);
            var comparison = await ClusterJob.RunAsync(connection, request, log, ct).ConfigureAwait(false);
            nodes.Add(t with { Findings = comparison.Findings, JobId = WorkIds.Job(request) });
        }
        return new AuditTrend(previous.Id, previous.Date, a.SensorTolerance, nodes);
    }
}
