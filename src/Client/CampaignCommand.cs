using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Magneton.Core.Campaigns;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Grains;

namespace Magneton.Client;

/// <summary>
/// <c>magneton campaign --baseline &lt;bundle&gt; &lt;bundle&gt;... [--json out|-] [--cluster h:p] [--threshold x]
/// [--fail-on-waste] [--quiet]</c>: every version compared against the baseline by a CampaignGrain, progress on
/// stderr while it runs, a <c>magneton.campaign/1</c> report at the end.
/// </summary>
public static class CampaignCommand
{
    public sealed record Arguments(string Baseline, IReadOnlyList<string> Versions, double Threshold, string? Json,
        ClusterTarget? Cluster, bool FailOnWaste, bool Quiet, string? Html = null);

    internal static Command Definition(TextWriter stdout, TextWriter stderr)
    {
        var baseline = CliOptions.Value<string?>("--baseline", "bundle",
            "the bundle every version is compared against (side a); with --capture: NAME=WORKLOAD [ARGS]", v => v);
        baseline.Required = true;
        var versions = new Argument<string[]>("versions")
        {
            HelpName = "bundle", Arity = ArgumentArity.ZeroOrMore, Description = "the versions, in order (side b of each comparison)",
        };
        var threshold = CliOptions.Threshold();
        var json = CliOptions.Json("campaign report (schema magneton.campaign/1)");
        var html = CliOptions.Html();
        var failOnWaste = CliOptions.FailOnWaste();
        var quiet = CliOptions.Quiet();
        var capture = new CampaignCaptureOptions();
        var cluster = new ClusterOptionSet(required: false, "run on a cluster through its gateway(s) instead of an embedded silo");
        var command = new Command("campaign",
            "Compares many versions of a system against one baseline, each as a comparison job; progress on stderr as versions "
            + "finish, then a magneton.campaign/1 report with recurring causes and regressions. With --capture, each version "
            + "(--baseline and --version NAME=WORKLOAD) is captured first on the cluster's GPU workers, all on one GPU, and the "
            + "report is stored in the cluster (magneton campaigns).")
        {
            baseline, versions, threshold, json, html, failOnWaste, quiet,
        };
        capture.AddTo(command);
        cluster.AddTo(command);
        var limits = new InputLimitOptionSet();
        limits.AddTo(command);
        command.SetAction(limits.Scoped((pr, ct) =>
        {
            var args = new Arguments(pr.GetValue(baseline)!, pr.GetValue(versions) ?? [], pr.GetValue(threshold),
                pr.GetValue(json), cluster.Read(pr), pr.GetValue(failOnWaste), pr.GetValue(quiet), pr.GetValue(html));
            if (capture.Given(pr)) return RunCaptureAsync(capture.Read(pr, args), args, stdout, stderr, ct);
            capture.CheckNotGiven(pr);
            if (args.Versions.Count == 0)
                throw new UsageException("campaign needs <bundle>... after --baseline <bundle>: the versions (see magneton campaign --help)");
            return RunAsync(args, stdout, stderr, ct);
        }));
        return command;
    }

    public static async Task<int> RunAsync(Arguments args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var progress = args.Quiet ? TextWriter.Null : stderr;
        string? htmlFile = args.Html is null ? null : HtmlReportFile.Check(args.Html);
        var report = await ProgressDisplay.RunAsync(ProgressDisplay.IsInteractive(stderr, args.Quiet), progress, "campaign", async display =>
        {
            await using var session = await ClientSession.OpenAsync(args.Cluster, [args.Baseline, .. args.Versions], display.Log, ct, checkLocal: false).ConfigureAwait(false);
            var request = new CampaignRequest(session.Runs[0], [.. session.Runs.Skip(1)], args.Threshold);
            return await RunCampaignAsync(session.Connection, WorkIds.Campaign(request), request, display.Log, ct, display.Campaign,
                session.UploadAgain).ConfigureAwait(false);
        }).ConfigureAwait(false);
        return await WriteAsync(report, args, htmlFile, stdout, stderr, ct).ConfigureAwait(false);
    }

    /// <summary>campaign --capture: the versions captured on the workers, then the campaign, stored in the cluster's history.</summary>
    static async Task<int> RunCaptureAsync(CampaignCapture.Arguments capture, Arguments args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        string? htmlFile = args.Html is null ? null : HtmlReportFile.Check(args.Html);
        var outcome = await CampaignCapture.RunAsync(capture, args.Quiet ? TextWriter.Null : stderr, ct).ConfigureAwait(false);
        if (outcome.Report is not { } report)
        {
            await stderr.WriteLineAsync("magneton: error: " + outcome.Failure).ConfigureAwait(false);
            return SubmitCommand.CaptureFailed;
        }
        int rc = await WriteAsync(report, args, htmlFile, stdout, stderr, ct).ConfigureAwait(false);
        if (!args.Quiet)
            await (args.Json is "-" ? stderr : stdout).WriteLineAsync(
                $"stored as {outcome.Stored!.Id}: {outcome.Stored.Verdict} (magneton campaigns --cluster {capture.Cluster} --system {capture.System})").ConfigureAwait(false);
        return rc;
    }

    public static string Json(CampaignReport report) => JsonSerializer.Serialize(report, ReportJson.Options);

    static async Task<int> WriteAsync(CampaignReport report, Arguments args, string? htmlFile, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        string json = Json(report);
        if (args.Json is "-") await stdout.WriteLineAsync(json).ConfigureAwait(false);
        else if (args.Json is { } file) await File.WriteAllTextAsync(file, json + "\n", new UTF8Encoding(false), ct).ConfigureAwait(false);
        if (htmlFile is not null) await HtmlReportFile.WriteAsync(htmlFile, Magneton.Core.Rendering.Html.HtmlReport.RenderCampaign(report), ct).ConfigureAwait(false);
        if (!args.Quiet) await (args.Json is "-" ? stderr : stdout).WriteAsync(Summary(report)).ConfigureAwait(false);

        var failed = report.Versions.Where(v => v.Error is not null).ToList();
        foreach (var v in failed) await stderr.WriteLineAsync($"magneton: error: version {v.Index} ({v.Bundle}): {v.Error}").ConfigureAwait(false);
        if (failed.Count > 0) return Program.BadInput;
        return args.FailOnWaste && report.Versions.Any(v => v.WasteInVersion > 0) ? Program.WasteFound : Program.Ok;
    }

    /// <summary>Starts (or finds) the campaign and polls it to the end, printing each newly finished version.</summary>
    public static Task<CampaignReport> RunCampaignAsync(IClusterClient client, string campaignId, CampaignRequest request,
        TextWriter progress, CancellationToken ct, Action<CampaignStatus>? onStatus = null) =>
        RunCampaignAsync(ClusterConnection.Over(client), campaignId, request, progress, ct, onStatus);

    /// <param name="uploadAgain">uploads a run the store lost, if this client holds its bundle (false: it does not)</param>
    public static async Task<CampaignReport> RunCampaignAsync(ClusterConnection connection, string campaignId, CampaignRequest request,
        TextWriter progress, CancellationToken ct, Action<CampaignStatus>? onStatus = null,
        Func<string, CancellationToken, Task<bool>>? uploadAgain = null)
    {
        ICampaignGrain Campaign(IClusterClient c) => c.GetGrain<ICampaignGrain>(campaignId);
        var status = await connection.CallAsync(c => Campaign(c).Start(request), ct).ConfigureAwait(false);
        var printed = new HashSet<string>();
        var lost = new LostRunUploads(uploadAgain, progress);
        DateTime? stuckSince = null;
        while (true)
        {
            onStatus?.Invoke(status);
            foreach (var line in status.Recent.Where(printed.Add))
                await progress.WriteLineAsync(line).ConfigureAwait(false);
            if (status.Finished) break;
            // A run the store lost (uploaded again, then the campaign asked again), or a campaign the cluster forgot
            // (its store lost the campaign's state; no versions known): both taken up again by a new Start.
            if (status.MissingRun is not null || status.Versions == 0)
            {
                if (status.MissingRun is { } run) await lost.UploadAgainAsync(run, status.Problem, ct).ConfigureAwait(false);
                status = await connection.CallAsync(c => Campaign(c).Start(request), ct).ConfigureAwait(false);
                continue;
            }
            if (status.Problem is { } problem)
            {
                stuckSince ??= DateTime.UtcNow;
                if (DateTime.UtcNow - stuckSince > connection.UnreachableFor) throw new MagnetonUnavailableException(problem);
            }
            else stuckSince = null;
            status = await connection.CallAsync(c => Campaign(c).Wait(TimeSpan.FromSeconds(1)), ct).ConfigureAwait(false);
        }
        return await connection.CallAsync(c => Campaign(c).GetReport(), ct).ConfigureAwait(false);
    }

    static string Summary(CampaignReport r)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(ci, $"Magneton campaign: baseline {r.Baseline.System} ({r.Baseline.IterationEnergyJ:0.000} J/iteration), {r.Versions.Count} version(s)");
        sb.AppendLine(ci, $"{"#",3}  {"system",-36} {"J/iter",9} {"vs base",8}  waste(version/baseline)  top finding");
        foreach (var v in r.Versions)
        {
            if (v.Run is null) { sb.AppendLine(ci, $"{v.Index,3}  {v.Bundle,-36} failed: {v.Error}"); continue; }
            var top = v.Findings.Where(f => f.Verdict == Verdict.Waste && f.Wasteful == Side.B).OrderByDescending(f => f.EnergyDeltaJ).FirstOrDefault();
            sb.AppendLine(string.Create(ci, $"{v.Index,3}  {Trim(v.Run.System, 36),-36} {v.Run.IterationEnergyJ,9:0.000} {v.EnergyRatio,7:0.000}x  {v.WasteInVersion,7}/{v.WasteInBaseline,-16}")
                + (top is null ? "" : string.Create(ci, $"{top.Where} ({top.Cause.Kind.Json()}, {top.EnergyRatio:0.00}x)")));
        }
        foreach (var c in r.RecurringCauses)
            sb.AppendLine(ci, $"recurring: {c.Kind.Json()} at {c.Where}, waste in {(c.Wasteful == Side.B ? "the version" : "the baseline")}, versions {string.Join(',', c.Versions)}");
        foreach (var g in r.Regressions)
            sb.AppendLine(string.Create(ci, $"regression {g.From} -> {g.To}: energy {g.EnergyRatio:0.000}x")
                + (g.NewFindings.Count > 0 ? "; new: " + string.Join("; ", g.NewFindings) : ""));
        return sb.ToString();
    }

    static string Trim(string s, int width) => s.Length <= width ? s : s[..(width - 1)] + "…";
}
