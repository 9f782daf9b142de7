using Magneton.Core.Campaigns;
using Magneton.Grains;

namespace Magneton.Client;

/// <summary>
/// <c>magneton campaign --capture</c>: each version (<c>NAME=&lt;workload&gt;</c>) captured on the workers, all on one
/// worker GPU unless told otherwise (so that board-to-board sensor differences do not enter), then the campaign of
/// those runs as <c>campaign</c> runs it, and its report stored in the cluster's history.
/// </summary>
internal static class CampaignCapture
{
    public const string Example = "magneton campaign --cluster H:P --capture --baseline NAME=WORKLOAD [ARGS] --version NAME=WORKLOAD [ARGS]...";

    /// <summary>A version to capture: its name (the run's system) and what runs.</summary>
    public sealed record Version(string Name, FleetCapture.Workload Workload)
    {
        /// <summary>
        /// <c>NAME=WORKLOAD [declared args]</c>, or <c>NAME=python job.py [args]</c> (a Python command, for workers with
        /// --allow-any-command): the words after '=' split at spaces; a first word ending in .py, naming a python, or
        /// -m makes a command.
        /// </summary>
        public static Version Parse(string option, string text)
        {
            int eq = text.IndexOf('=');
            if (eq <= 0 || eq == text.Length - 1)
                throw new UsageException($"option {option} needs NAME=WORKLOAD [ARGS] (or NAME=python job.py [ARGS]), got '{text}'");
            var name = text[..eq].Trim();
            var words = text[(eq + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (name.Length == 0 || words.Length == 0)
                throw new UsageException($"option {option} needs NAME=WORKLOAD [ARGS] (or NAME=python job.py [ARGS]), got '{text}'");
            var first = words[0];
            bool command = first.EndsWith(".py", StringComparison.Ordinal) || first == "-m"
                           || Path.GetFileName(first).StartsWith("python", StringComparison.Ordinal);
            return new Version(name, command ? FleetCapture.Workload.Of(null, words, Example) : new FleetCapture.Workload(first, words[1..]));
        }
    }

    public sealed record Arguments(ClusterTarget Cluster, string System, Version Baseline, IReadOnlyList<Version> Versions, string? Worker,
        bool Spread, string[] ProbeArguments, DateTimeOffset Date, double Threshold);

    public sealed record Outcome(CampaignReport? Report, StoredReport? Stored, string? Failure);

    public static async Task<Outcome> RunAsync(Arguments a, TextWriter log, CancellationToken ct)
    {
        await using var connection = await ClusterConnection.ConnectAsync(a.Cluster, ct).ConfigureAwait(false);
        var alive = await FleetCapture.AliveWorkersAsync(connection, ct).ConfigureAwait(false);
        WorkerView? worker = null;
        if (!a.Spread)
        {
            worker = a.Worker is null
                ? alive.FirstOrDefault() ?? throw new UsageException("no GPU worker is alive in the cluster (magneton workers --cluster ...)")
                : alive.FirstOrDefault(w => w.Info.WorkerId == a.Worker)
                  ?? throw new UsageException($"--worker {a.Worker}: not an alive GPU worker (alive: {(alive.Count == 0 ? "none" : string.Join(", ", alive.Select(w => w.Info.WorkerId)))})");
        }
        var all = new List<Version> { a.Baseline };
        all.AddRange(a.Versions);
        await log.WriteLineAsync($"campaign {a.System}: capturing {all.Count} version(s) on {worker?.Info.WorkerId ?? "any GPU worker"}").ConfigureAwait(false);
        var specs = all.Select(v => v.Workload.Spec(v.Name, worker?.Info.WorkerId, worker?.Info.Node, a.ProbeArguments)).ToList();
        var jobs = await FleetCapture.RunAsync(connection, specs, log, ct).ConfigureAwait(false);
        if (jobs.FirstOrDefault(j => j.State != CaptureState.Done || j.RunId is null) is { } failed)
            return new Outcome(null, null, $"campaign {a.System}: the capture of {failed.Spec.System} failed: {failed.Error}");

        var request = new CampaignRequest(RunRef.Stored(jobs[0].RunId!), [.. jobs.Skip(1).Select(j => RunRef.Stored(j.RunId!))], a.Threshold);
        var report = await CampaignCommand.RunCampaignAsync(connection, WorkIds.Campaign(request), request, log, ct).ConfigureAwait(false);

        var regressed = report.Regressions.Select(r => r.To).ToHashSet();
        var items = new List<ReportItem> { new(a.Baseline.Name, report.Baseline.RunId, report.Baseline.IterationEnergyJ, report.Baseline.IterationTimeS, false) };
        items.AddRange(report.Versions.Select(v => new ReportItem(all[v.Index + 1].Name, v.Run?.RunId ?? "", v.Run?.IterationEnergyJ ?? double.NaN,
            v.Run?.IterationTimeS ?? double.NaN, regressed.Contains(v.Index))));
        string verdict = regressed.Count == 0
            ? "no regression"
            : "regression: " + string.Join(", ", report.Versions.Where(v => regressed.Contains(v.Index)).Select(v => all[v.Index + 1].Name));
        var entry = new StoredReport("", ReportKind.Campaign, a.System, a.Date, verdict, [.. items]);
        var stored = await ReportHistoryCommand.StoreAsync(connection, entry, CampaignCommand.Json(report), ct).ConfigureAwait(false);
        return new Outcome(report, stored, null);
    }
}
