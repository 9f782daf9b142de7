using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Magneton.Core.Audits;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Runs;
using Magneton.Grains;

namespace Magneton.Client;

/// <summary>
/// <c>magneton audit &lt;bundle&gt;... [--json out|-] [--cluster h:p] [--threshold x] [--quiet]</c>: one job captured
/// on many nodes. Every run is ingested by its run grain; nodes are scored against the median iteration energy
/// (median and MAD); each outlier is compared, operator by operator, with the most typical node by a comparison
/// job. Captures of different jobs are refused.
/// </summary>
public static class AuditCommand
{
    internal static Command Definition(TextWriter stdout, TextWriter stderr)
    {
        var bundles = new Argument<string[]>("bundles")
        {
            HelpName = "bundle", Arity = ArgumentArity.ZeroOrMore,
            Description = "the same job captured on each node (at least two); with --capture, after --: the workload's declared arguments, or a Python command",
        };
        var json = CliOptions.Json("audit report (schema magneton.audit/1)");
        var html = CliOptions.Html();
        var threshold = CliOptions.Threshold();
        var quiet = CliOptions.Quiet();
        var tolerance = CliOptions.Value("--sensor-tolerance", "x",
            "the energy sensors' stated board-to-board accuracy, a fraction (default 0.05: NVML's +-5 %); smaller differences are within sensor error",
            ParseTolerance);
        tolerance.DefaultValueFactory = _ => AuditResolution.NvmlSensorTolerance;
        var capture = new AuditCaptureOptions();
        var cluster = new ClusterOptionSet(required: false, "run on a cluster through its gateway(s) instead of an embedded silo");
        var command = new Command("audit",
            "One job captured on many nodes: scores each node's iteration energy against the median (median and MAD) and "
            + "compares each outlier, operator by operator, with the most typical node. Captures of different jobs are refused. "
            + "With --capture, the job is captured first on every selected GPU worker of the cluster, each node is compared with its "
            + "own run in the previous audit of the system, and the report is stored in the cluster (magneton audits).")
        {
            bundles, json, html, threshold, tolerance, quiet,
        };
        capture.AddTo(command);
        cluster.AddTo(command);
        var limits = new InputLimitOptionSet();
        limits.AddTo(command);
        command.SetAction(limits.Scoped((pr, ct) =>
        {
            var values = pr.GetValue(bundles) ?? [];
            return capture.Given(pr)
                ? RunCaptureAsync(capture.Read(pr, cluster.Read(pr), values, pr.GetValue(tolerance), pr.GetValue(threshold)),
                    pr.GetValue(json), pr.GetValue(html), pr.GetValue(quiet), stdout, stderr, ct)
                : RunAsync([.. capture.CheckNotGiven(pr, values)], pr.GetValue(json), pr.GetValue(html), cluster.Read(pr),
                    pr.GetValue(threshold), pr.GetValue(quiet), stdout, stderr, ct, pr.GetValue(tolerance));
        }));
        return command;
    }

    static double ParseTolerance(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) && double.IsFinite(t) && t >= 0 && t < 1
            ? t
            : throw new UsageException($"--sensor-tolerance: '{text}' is not a fraction in [0, 1) (NVML: 0.05)");

    /// <summary>audit --capture: the fresh captures' audit, stored in the cluster's history.</summary>
    static async Task<int> RunCaptureAsync(FleetAudit.Arguments args, string? json, string? html, bool quiet, TextWriter stdout,
        TextWriter stderr, CancellationToken ct)
    {
        string? htmlFile = html is null ? null : HtmlReportFile.Check(html);
        var outcome = await FleetAudit.RunAsync(args, quiet ? TextWriter.Null : stderr, ct).ConfigureAwait(false);
        if (outcome.Report is not { } report)
        {
            await stderr.WriteLineAsync("magneton: error: " + outcome.Failure).ConfigureAwait(false);
            return SubmitCommand.CaptureFailed;
        }
        await WriteAsync(report, json, htmlFile, quiet, stdout, stderr, ct).ConfigureAwait(false);
        if (!quiet) await (json is "-" ? stderr : stdout).WriteLineAsync($"stored as {outcome.Stored!.Id} (magneton audits --cluster {args.Cluster} --system {args.System})").ConfigureAwait(false);
        return Program.Ok;
    }

    public static async Task<int> RunAsync(IReadOnlyList<string> bundles, string? json, string? html, ClusterTarget? cluster, double threshold,
        bool quiet, TextWriter stdout, TextWriter stderr, CancellationToken ct, double sensorTolerance = AuditResolution.NvmlSensorTolerance)
    {
        if (bundles.Count < 2) throw new UsageException("audit needs the same job captured on at least two nodes: magneton audit <bundle> <bundle>...");
        var log = quiet ? TextWriter.Null : stderr;
        string? htmlFile = html is null ? null : HtmlReportFile.Check(html);

        AuditReport report;
        await using (var session = await ClientSession.OpenAsync(cluster, bundles, log, ct).ConfigureAwait(false))
            report = await AuditAsync(session.Connection, session.Runs, threshold, log, ct, sensorTolerance: sensorTolerance).ConfigureAwait(false);
        await WriteAsync(report, json, htmlFile, quiet, stdout, stderr, ct).ConfigureAwait(false);
        return Program.Ok;
    }

    public static string Json(AuditReport report) => JsonSerializer.Serialize(report, ReportJson.Options);

    static async Task WriteAsync(AuditReport report, string? json, string? htmlFile, bool quiet, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        string text = Json(report);
        if (json is "-") await stdout.WriteLineAsync(text).ConfigureAwait(false);
        else if (json is not null) await File.WriteAllTextAsync(json, text + "\n", new UTF8Encoding(false), ct).ConfigureAwait(false);
        if (htmlFile is not null) await HtmlReportFile.WriteAsync(htmlFile, Magneton.Core.Rendering.Html.HtmlReport.RenderAudit(report), ct).ConfigureAwait(false);
        if (!quiet) await (json is "-" ? stderr : stdout).WriteAsync(Summary(report)).ConfigureAwait(false);
    }

    /// <param name="names">the nodes' names (an audit of fresh captures: their workers, node/gpuN); default: the bundles' hosts</param>
    public static async Task<AuditReport> AuditAsync(ClusterConnection connection, IReadOnlyList<RunRef> runs, double threshold,
        TextWriter log, CancellationToken ct, IReadOnlyList<string>? names = null, double sensorTolerance = AuditResolution.NvmlSensorTolerance)
    {
        var summaries = await Task.WhenAll(runs.Select(r =>
            connection.CallAsync(c => c.GetGrain<IRunGrain>(r.RunId).Ingest(r), ct))).ConfigureAwait(false);
        for (int i = 1; i < summaries.Length; i++)
            if (summaries[i].JobSignature != summaries[0].JobSignature)
                throw new UsageException($"{summaries[i].BundlePath}: dataflow.json: nodes: not the same job as {summaries[0].BundlePath} "
                    + "(another operator graph); an audit compares captures of one job on many nodes");

        var inputs = summaries.Select((s, i) => new AuditInput(i, s.BundlePath, s.RunId, s.JobSignature, names?[i] ?? s.Host, s.Device,
            s.Driver, s.PowerLimitW, s.IterationEnergyJ, s.IterationSeconds)).ToList();
        var (nodes, median, mad, typical) = AuditAnalysis.Score(inputs, sensorTolerance);

        var outliers = new List<AuditOutlier>();
        foreach (var node in nodes.Where(n => n.Outlier))
        {
            await log.WriteLineAsync($"node {node.Index} ({node.Host}) is an outlier: comparing it with node {typical}").ConfigureAwait(false);
            var request = new CompareRequest(runs[typical], runs[node.Index], threshold);
            var comparison = await ClusterJob.RunAsync(connection, request, log, ct).ConfigureAwait(false);
            var t = nodes[typical];
            outliers.Add(new AuditOutlier(node.Index, node.IterationEnergyJ / t.IterationEnergyJ, node.IterationTimeS / t.IterationTimeS,
                AuditAnalysis.NodeDifferences(t, node), comparison.Findings, WorkIds.Job(request)));
        }

        var notes = new List<string>();
        if (nodes.Count < AuditAnalysis.MinNodesForOutliers)
            notes.Add($"{nodes.Count} nodes: outliers need at least {AuditAnalysis.MinNodesForOutliers} (a median and a spread to measure against)");
        double spread = (nodes.Max(n => n.IterationEnergyJ) - nodes.Min(n => n.IterationEnergyJ)) / median;
        notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"iteration energy spans {spread:P1} of the median {median:0.000} J over {nodes.Count} nodes"));
        var resolution = AuditResolution.Of(median, mad, sensorTolerance);
        notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"resolution +-{resolution.Resolution:P1} (NVML sensor tolerance +-{resolution.SensorTolerance:P0} per board, typical nodes' spread {resolution.TypicalSpread:P1}): "
            + $"{nodes.Count(n => n.WithinSensorError)} node(s) within sensor error of the median"));
        return new AuditReport(AuditReport.SchemaName, summaries[0].System, nodes, median, mad, typical, outliers, notes) { Resolution = resolution };
    }

    static string Summary(AuditReport r)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(ci, $"Magneton audit: {r.Job} on {r.Nodes.Count} node(s); median {r.MedianEnergyJ:0.000} J/iteration, MAD {r.MadEnergyJ:0.000} J");
        sb.AppendLine("VERDICT: " + r.Verdict());
        sb.AppendLine(ci, $"{"#",3}  {"host",-28} {"gpu",-24} {"J/iter",9} {"s/iter",9} {"score",7}");
        foreach (var n in r.Nodes)
            sb.AppendLine(string.Create(ci, $"{n.Index,3}  {n.Host,-28} {n.Gpu ?? "?",-24} {n.IterationEnergyJ,9:0.000} {n.IterationTimeS,9:0.0000} {n.EnergyScore,7:0.00}")
                + (n.Outlier ? "  OUTLIER" : n.Index == r.TypicalNode ? "  typical" : n.WithinSensorError ? "  within sensor error" : ""));
        foreach (var o in r.Outliers)
        {
            sb.AppendLine(ci, $"node {o.Node}: {o.EnergyRatio:0.000}x the typical node's energy, {o.TimeRatio:0.000}x its time");
            foreach (var d in o.NodeDifferences) sb.AppendLine(ci, $"    {d.Key}: typical={d.A ?? "?"} node={d.B ?? "?"}");
            foreach (var f in o.Findings.Where(f => f.Verdict == Verdict.Waste))
                sb.AppendLine(ci, $"    {f.Where}: {f.Cause.Kind.Json()}, {f.EnergyRatio:0.00}x ({(f.Wasteful == Side.B ? "on this node" : "on the typical node")})");
            if (o.NodeDifferences.Count == 0 && !o.Findings.Any(f => f.Verdict == Verdict.Waste))
                sb.AppendLine("    no operator-level cause: the difference is outside the matched operators (host, idle, clocks)");
        }
        if (r.Trend is { } trend) TrendSummary(sb, trend);
        foreach (var failed in r.FailedCaptures) sb.AppendLine("capture failed: " + failed);
        foreach (var note in r.Notes) sb.AppendLine("note: " + note);
        return sb.ToString();
    }

    static void TrendSummary(StringBuilder sb, AuditTrend trend)
    {
        var ci = CultureInfo.InvariantCulture;
        sb.AppendLine(ci, $"Since {trend.PreviousAudit} ({trend.PreviousDate.UtcDateTime:yyyy-MM-dd}), sensor tolerance +-{trend.SensorTolerance:P0}:");
        foreach (var t in trend.Nodes)
        {
            sb.AppendLine(t.PreviousIterationEnergyJ is { } before
                ? string.Create(ci, $"  {t.Node,-28} {before,9:0.000} -> {t.IterationEnergyJ,9:0.000} J/iter {t.EnergyChange,8:+0.0%;-0.0%}  {JsonName.Of(t.Direction)}")
                    + (t.Flagged ? "  FLAGGED" : "")
                : string.Create(ci, $"  {t.Node,-28} {"",9}    {t.IterationEnergyJ,9:0.000} J/iter  new node"));
            foreach (var f in t.Findings.Where(f => f.Verdict == Verdict.Waste))
                sb.AppendLine(ci, $"      {f.Where}: {f.Cause.Kind.Json()}, {f.EnergyRatio:0.00}x ({(f.Wasteful == Side.B ? "now" : "in the previous run")})");
        }
    }
}
