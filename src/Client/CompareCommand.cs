using System.CommandLine;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Magneton.Core.Rendering;
using Magneton.Core.Reporting;
using Magneton.Grains;
using Magneton.Silo;

namespace Magneton.Client;

/// <summary><c>magneton compare</c>: runs one comparison through the grains of an embedded silo.</summary>
public static class CompareCommand
{
    public static System.Text.Json.JsonSerializerOptions ReportJson => Magneton.Core.Reporting.ReportJson.Options;

    internal static Command Definition(TextWriter stdout, TextWriter stderr)
    {
        var a = new Argument<string>("bundleA") { Description = "side a: a capture bundle directory, run:<id> on a cluster, or a profiler trace" };
        var b = new Argument<string>("bundleB") { Description = "side b, the same kind as side a" };
        var threshold = CliOptions.Threshold();
        var json = CliOptions.Json("report (schema magneton.report/1)");
        var html = CliOptions.Html();
        var failOnWaste = CliOptions.FailOnWaste();
        var step = CliOptions.Value<int?>("--step", "N",
            "two profiler traces: compare ProfilerStep#N (default: each side's last complete step)", v => CliOptions.Index("--step")(v));
        var stepA = CliOptions.Value<int?>("--step-a", "N",
            "two profiler traces: compare ProfilerStep#N of side a (with --step-b: two steps of one trace, or traces numbered apart)",
            v => CliOptions.Index("--step-a")(v));
        var stepB = CliOptions.Value<int?>("--step-b", "N", "two profiler traces: compare ProfilerStep#N of side b", v => CliOptions.Index("--step-b")(v));
        var rank = CliOptions.Value<int?>("--rank", "R",
            "two profiler traces: compare rank R on both sides (default: the lowest rank); a side without rank R is refused",
            v => CliOptions.Index("--rank")(v));
        var quiet = CliOptions.Quiet();
        var timeout = CliOptions.Value<double?>("--timeout", "s",
            $"with --cluster: end with one line (exit 2) when no result came within this many seconds (default {CompareArguments.DefaultTimeout.TotalSeconds:0})",
            v => CliOptions.Seconds("--timeout", 7 * 86400)(v));
        var cancel = CliOptions.Flag("--cancel", "with --cluster: Ctrl-C or SIGTERM also cancels the comparison in the cluster");
        var cluster = new ClusterOptionSet(required: false,
            "run on a cluster through its gateway(s) host:port[,host:port] instead of an embedded silo; local bundles are "
            + "checked here, then uploaded to the cluster's store (once: the run id is the hash of the files); run:<id> names a stored run");
        var command = new Command("compare",
            "Compares two capture bundles of systems that do the same job: matches their equivalent subgraphs by tensor values and "
            + "reports where one side spends more GPU energy for the same result, and why. Two plain PyTorch profiler traces (*.json, "
            + "*.json.gz, or directories of per-rank traces) are compared by operator name and call-tree position within one step "
            + "instead (GPU time only).")
        {
            a, b, threshold, json, html, failOnWaste, step, stepA, stepB, rank, quiet, timeout, cancel,
        };
        cluster.AddTo(command);
        var limits = new InputLimitOptionSet();
        limits.AddTo(command);
        command.SetAction(limits.Scoped((pr, ct) => RunAsync(new CompareArguments(pr.GetValue(a)!, pr.GetValue(b)!, pr.GetValue(threshold), pr.GetValue(json),
            pr.GetValue(failOnWaste), pr.GetValue(quiet), cluster.Read(pr), pr.GetValue(html), pr.GetValue(step), pr.GetValue(rank),
            pr.GetValue(timeout) is double t ? TimeSpan.FromSeconds(t) : null, pr.GetValue(cancel), pr.GetValue(stepA), pr.GetValue(stepB)),
            stdout, stderr, ct)));
        return command;
    }

    public static async Task<int> RunAsync(CompareArguments args, TextWriter stdout, TextWriter stderr, CancellationToken ct = default)
    {
        // Check what can be checked before any silo is involved: bad input fails fast.
        string? jsonFile = args.Json is null or "-" ? null : CheckOutputFile(args.Json);
        bool jsonToStdout = args.Json == "-";
        string? htmlFile = args.Html is null ? null : HtmlReportFile.Check(args.Html);

        ComparisonReport report = TraceCompareCommand.Applies(args)
            ? await Task.Run(() => TraceCompareCommand.Compare(args, ct), ct).ConfigureAwait(false)
            : args.Cluster is { } cluster
            ? await CompareOnClusterAsync(cluster, args, stderr, ct).ConfigureAwait(false)
            : await CompareEmbeddedAsync(args, ct).ConfigureAwait(false);

        // Only when asked for: at 100k operators a side the JSON is 39 MB and half a second.
        string? json = jsonFile is not null || jsonToStdout ? JsonSerializer.Serialize(report, ReportJson) : null;
        if (jsonFile is not null)
        {
            try
            {
                await File.WriteAllTextAsync(jsonFile, json + "\n", new UTF8Encoding(false), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"{args.Json}: cannot write the report: {Program.OneLine(e.Message)}");
            }
        }
        if (jsonToStdout) await stdout.WriteLineAsync(json).ConfigureAwait(false);
        if (htmlFile is not null) await HtmlReportFile.WriteComparisonAsync(htmlFile, report, args.BundleA, args.BundleB, ct).ConfigureAwait(false);

        // Unrelated runs are bad input (exit 2, one line), after the report that says why has been written.
        if (!report.Comparable)
            throw new UsageException($"{args.BundleA} and {args.BundleB} are not comparable: {report.Comparability!.Reason}; the systems do not compute the same thing (no waste claim)");

        if (!args.Quiet)
        {
            var summary = jsonToStdout ? stderr : stdout;
            await summary.WriteAsync(Summary(report)).ConfigureAwait(false);
            if (jsonFile is not null) await summary.WriteLineAsync($"report: {jsonFile}").ConfigureAwait(false);
            if (htmlFile is not null) await summary.WriteLineAsync($"html: {htmlFile}").ConfigureAwait(false);
        }
        return args.FailOnWaste && report.HasWaste ? Program.WasteFound : Program.Ok;
    }

    /// <summary>The comparison on a cluster, within --timeout (default <see cref="CompareArguments.DefaultTimeout"/>).</summary>
    static async Task<ComparisonReport> CompareOnClusterAsync(ClusterTarget cluster, CompareArguments args, TextWriter stderr, CancellationToken ct)
    {
        var timeout = args.Timeout ?? CompareArguments.DefaultTimeout;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            return await ProgressDisplay.RunAsync(ProgressDisplay.IsInteractive(stderr, args.Quiet), stderr, "compare",
                p => ClusterJob.CompareAsync(cluster, args.BundleA, args.BundleB, args.Threshold, p.Log, deadline.Token, p.Job, args.Cancel))
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && deadline.IsCancellationRequested)
        {
            throw new ClusterUnavailableException($"--cluster {cluster}: no result within --timeout {timeout.TotalSeconds:0} s");
        }
    }

    static async Task<ComparisonReport> CompareEmbeddedAsync(CompareArguments args, CancellationToken ct)
    {
        string bundleA = CheckBundle(args.BundleA), bundleB = CheckBundle(args.BundleB);
        // Read and built here, before the silo starts (errors name the bundle as typed), and handed to the silo.
        var runs = await LocalBundle.IngestAllAsync([args.BundleA, args.BundleB], ct).ConfigureAwait(false);
        await using var silo = await EmbeddedSilo.StartAsync(CliLogging.Configure, ct).ConfigureAwait(false);
        var request = CompareRequest.ForPaths(bundleA, bundleB, args.Threshold);
        silo.Keep(request.A, runs[0]);
        silo.Keep(request.B, runs[1]);
        var job = silo.Grains.GetGrain<IMatchingJobGrain>("cli-" + Guid.NewGuid().ToString("N"));
        var report = (await job.Compare(request, ct).WaitAsync(ct).ConfigureAwait(false)).Value;
        await silo.StopAsync().ConfigureAwait(false); // graceful: about 60 ms
        return report;
    }

    /// <summary>The lead's terminal report, plus where the energy numbers come from if it does not say.</summary>
    internal static string Summary(ComparisonReport report)
    {
        if (report.Matching.Mode == MatchMode.Structure) return Magneton.Core.Traces.TraceComparison.Render(report);
        var text = TerminalReport.Render(report);
        var sources = report.EnergyModel?.Sources;
        if (!string.IsNullOrWhiteSpace(sources) && !text.Contains(sources, StringComparison.Ordinal))
            text = text.TrimEnd('\n') + "\n" + "Energy sources: " + sources + "\n";
        return text;
    }

    static string CheckBundle(string path)
    {
        if (RunArgument.Is(path))
            throw new UsageException($"{path}: stored runs are in a cluster; add --cluster host:port");
        if (Directory.Exists(path) || File.Exists(path)) return RunIds.NormalizePath(path);
        throw new UsageException($"{path}: bundle not found (no such directory)");
    }

    static string CheckOutputFile(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new UsageException($"{path}: --json names a directory, not a file");
        var dir = Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
            throw new UsageException($"{path}: cannot write the report: directory {dir} does not exist");
        return full;
    }
}
