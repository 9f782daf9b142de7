using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Magneton.Core.Reporting;
using Magneton.Grains;

namespace Magneton.Client;

/// <summary>
/// <c>magneton audits|campaigns --cluster h:p [--system NAME] [--json] [--report ID]</c>: the reports that
/// <c>audit --capture</c> and <c>campaign --capture</c> stored in the cluster, oldest first, or one of them in full.
/// </summary>
public static class ReportHistoryCommand
{
    internal static Command Audits(TextWriter stdout) => Definition(ReportKind.Audit, "audits",
        "Lists the audits stored in a cluster (magneton audit --capture): per system and date, the verdict and the flagged nodes.", stdout);

    internal static Command Campaigns(TextWriter stdout) => Definition(ReportKind.Campaign, "campaigns",
        "Lists the campaigns stored in a cluster (magneton campaign --capture): per system and date, the verdict and the regressed versions.", stdout);

    static Command Definition(ReportKind kind, string name, string description, TextWriter stdout)
    {
        var cluster = new ClusterOptionSet(required: true);
        var system = CliOptions.NonEmpty("--system", "name", "only this system's history (default: every system's)");
        var json = CliOptions.JsonFlag("print the history as JSON");
        var report = CliOptions.NonEmpty("--report", "id", "print this stored report's JSON instead of the list");
        var command = new Command(name, description) { system, json, report };
        cluster.AddTo(command);
        command.SetAction((pr, ct) => RunAsync(kind, cluster.ReadRequired(pr), pr.GetValue(system), pr.GetValue(json), pr.GetValue(report), stdout, ct));
        return command;
    }

    static async Task<int> RunAsync(ReportKind kind, ClusterTarget cluster, string? system, bool json, string? reportId, TextWriter stdout,
        CancellationToken ct)
    {
        await using var connection = await ClusterConnection.ConnectAsync(cluster, ct).ConfigureAwait(false);
        var systems = system is not null
            ? [system]
            : await connection.CallAsync(c => c.GetGrain<IReportHistoryGrain>(ReportHistoryKeys.Kind(kind)).Systems(), ct).ConfigureAwait(false);
        var entries = new List<StoredReport>();
        foreach (var s in systems)
            entries.AddRange(await connection.CallAsync(c => History(c, kind, s).List(), ct).ConfigureAwait(false));

        if (reportId is not null)
        {
            var owner = entries.FirstOrDefault(e => e.Id == reportId)
                        ?? throw new UsageException($"--report {reportId}: no such {ReportHistoryKeys.Kind(kind)} in the cluster (magneton {ReportHistoryKeys.Kind(kind)}s --cluster {cluster})");
            var bytes = await connection.CallAsync(c => History(c, kind, owner.System).GetReport(reportId), ct).ConfigureAwait(false)
                        ?? throw new MagnetonUnavailableException($"report {reportId}: listed, but not in the cluster's store");
            await stdout.WriteLineAsync(Encoding.UTF8.GetString(bytes)).ConfigureAwait(false);
            return Program.Ok;
        }
        if (json)
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(entries.Select(e => new
            {
                id = e.Id, kind = ReportHistoryKeys.Kind(e.Kind), system = e.System, date = e.Date, verdict = e.Verdict,
                items = e.Items.Select(i => new
                {
                    name = i.Name, run_id = i.RunId, iteration_energy_j = i.IterationEnergyJ, iteration_time_s = i.IterationTimeS, flagged = i.Flagged,
                }),
            }), ReportJson.Options)).ConfigureAwait(false);
            return Program.Ok;
        }
        await stdout.WriteLineAsync($"{entries.Count} {ReportHistoryKeys.Kind(kind)}(s){(system is null ? "" : " of " + system)}").ConfigureAwait(false);
        foreach (var e in entries)
        {
            var flagged = e.Items.Where(i => i.Flagged).Select(i => i.Name).ToList();
            await stdout.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{e.Date.UtcDateTime:yyyy-MM-dd HH:mm}  {e.Id,-40} {e.System,-24} {e.Items.Length,3} {(kind == ReportKind.Audit ? "node(s)" : "run(s)")}  {e.Verdict}")
                + (flagged.Count > 0 ? $"  flagged: {string.Join(", ", flagged)}" : "")).ConfigureAwait(false);
        }
        return Program.Ok;
    }

    static IReportHistoryGrain History(IClusterClient c, ReportKind kind, string system) =>
        c.GetGrain<IReportHistoryGrain>(ReportHistoryKeys.Of(kind, system));

    /// <summary>The latest report of the system dated before <paramref name="date"/>, or null.</summary>
    public static Task<StoredReport?> PreviousAsync(ClusterConnection connection, ReportKind kind, string system, DateTimeOffset date, CancellationToken ct) =>
        connection.CallAsync(c => History(c, kind, system).Previous(date), ct);

    /// <summary>Stores the report (its JSON as the CLI writes it) in the system's history; returns the entry with its id.</summary>
    public static Task<StoredReport> StoreAsync(ClusterConnection connection, StoredReport entry, string json, CancellationToken ct)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var once = entry with { Request = Guid.NewGuid().ToString("N") }; // the same for every retry of the call
        return connection.CallAsync(c => History(c, once.Kind, once.System).Add(once, bytes), ct);
    }

    /// <summary>The report date: --date as given (a date is midnight UTC), else now.</summary>
    public static DateTimeOffset ParseDate(string text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var d)
            ? d
            : throw new UsageException($"option --date needs a date (2026-01-31) or a date and time (2026-01-31T02:00:00Z), got '{text}'");
}
