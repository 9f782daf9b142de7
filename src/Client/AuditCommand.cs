using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Magneton.Core.Audits;
using Magneton.Core.Reporting;
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
            HelpName = "bundle", Arity = ArgumentArity.OneOrMore, Description = "the same job captured on each node (at least two)",
        };
        var json = CliOptions.Json("audit report (schema magneton.audit/1)");
        var html = CliOptions.Html();
        var threshold = CliOptions.Threshold();
        var quiet = CliOptions.Quiet();
        var cluster = new ClusterOptionSet(required: false, "run on a cluster through its gateway(s) instead of an embedded silo");
        var command = new Command("audit",
            "One job captured on many nodes: scores each node's iteration energy against the median (median and MAD) and "
            + "compares each outlier, operator by operator, with the most typical node. Captures of different jobs are refused.")
        {
            bundles, json, html, threshold, quiet,
        };
        cluster.AddTo(command);
        var limits = new InputLimitOptionSet();
        limits.AddTo(command);
        command.SetAction(limits.Scoped((pr, ct) => RunAsync([.. pr.GetValue(bundles)!], pr.GetValue(json), pr.GetValue(html), cluster.Read(pr),
            pr.GetValue(threshold), pr.GetValue(quiet), stdout, stderr, ct)));
        return command;
    }

    public static async Task<int> RunAsync(IReadOnlyList<string> bundles, string? json, string? html, ClusterTarget? cluster, double threshold,
        bool quiet, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (bundles.Count < 2) throw new UsageException("audit needs the same job captured on at least two nodes: magneton audit <bundle> <bundle>...");
        var log = quiet ? TextWriter.Null : stderr;
        string? htmlFile = html is null ? null : HtmlReportFile.Check(html);

        AuditReport report;
        await using (var session = await ClientSession.OpenAsync(cluster, bundles, log, ct).ConfigureAwait(false))
            report = await AuditAsync(session.Connection, session.Runs, threshold, log, ct).ConfigureAwait(false);

        string text = JsonSerializer.Serialize(report, ReportJson.Options);
        if (json is "-") await stdout.WriteLineAsync(text).ConfigureAwait(false);
        else if (json is not null) await File.WriteAllTextAsync(json, text + "\n", new UTF8Encoding(false), ct).ConfigureAwait(false);
        if (htmlFile is not null) await HtmlReportFile.WriteAsync(htmlFile, Magneton.Core.Rendering.Html.HtmlReport.RenderAudit(report), ct).ConfigureAwait(false);
        if (!quiet) await (json is "-" ? stderr : stdout).WriteAsync(Summary(report)).ConfigureAwait(false);
        return Program.Ok;
    }

    public static async Task<AuditReport> AuditAsync(ClusterConnection connection, IReadOnlyList<RunRef> runs, double threshold,
        TextWriter log, CancellationToken ct)
    {
        var summaries = await Task.WhenAll(runs.Select(r =>
            connection.CallAsync(c => c.GetGrain<IRunGrain>(r.RunId).Ingest(r), ct))).ConfigureAwait(false);
        for (int i = 1; i < summaries.Length; i++)
            if (summaries[i].JobSignature != summaries[0].JobSignature)
                throw new UsageException($"{summaries[i].BundlePath}: dataflow.json: nodes: not the same job as {summaries[0].BundlePath} "
                    + "(another operator graph); an audit compares captures of one job on many nodes");

        var inputs = summaries.Select((s, i) => new AuditInput(i, s.BundlePath, s.RunId, s.JobSignature, s.Host, s.Device,
            s.Driver, s.PowerLimitW, s.IterationEnergyJ, s.IterationSeconds)).ToList();
        var (nodes, median, mad, typical) = AuditAnalysis.Score(inputs);

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
        var resolution = AuditResolution.Of(median, mad);
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
            foreach (var f in o.Findings.Where(f => f.Verdict == "waste"))
                sb.AppendLine(ci, $"    {f.Where}: {f.Cause.Kind}, {f.EnergyRatio:0.00}x ({(f.Wasteful == "b" ? "on this node" : "on the typical node")})");
            if (o.NodeDifferences.Count == 0 && !o.Findings.Any(f => f.Verdict == "waste"))
                sb.AppendLine("    no operator-level cause: the difference is outside the matched operators (host, idle, clocks)");
        }
        foreach (var note in r.Notes) sb.AppendLine("note: " + note);
        return sb.ToString();
    }
}
