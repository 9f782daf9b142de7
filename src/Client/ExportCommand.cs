using System.CommandLine;
using System.Text;
using System.Text.Json;
using Magneton.Core;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Rendering.Perfetto;

namespace Magneton.Client;

/// <summary>
/// <c>magneton export &lt;bundle&gt; --out &lt;trace.json|-&gt; [--report &lt;report.json&gt;] [--side a|b]</c>: a capture as a
/// Chrome trace-event JSON for ui.perfetto.dev (operators and kernels as slices, per-operator power and energy and
/// the power.csv timeline as counters, the report's findings as annotations). Runs locally: no silo.
/// </summary>
public static class ExportCommand
{
    internal static Command Definition(TextWriter stdout, TextWriter stderr)
    {
        var bundle = new Argument<string>("bundle") { Description = "the capture bundle directory" };
        var output = CliOptions.Value<string?>("--out", "trace.json|-", "the trace file to write; '-' writes it to stdout", v => v, "-o");
        output.Required = true;
        var report = CliOptions.Value<string?>("--report", "report.json",
            "a magneton.report/1 JSON (compare --json): each finding as an instant event on the first operator of each of its "
            + "regions, and as a span on a \"findings\" track", v => v);
        var side = CliOptions.Value<Side?>("--side", "a|b",
            "the bundle's side in the report, where neither its path nor its system name tells", v => v.ToLowerInvariant() switch
            {
                "a" => Side.A,
                "b" => Side.B,
                _ => throw new UsageException($"--side: '{v}' is not a or b"),
            });
        side.CompletionSources.Add("a", "b");
        var command = new Command("export",
            "Writes the bundle's run as a Chrome trace-event JSON for ui.perfetto.dev and chrome://tracing: one iteration of the "
            + "energy pass with operators as slices (laid out back to back by their mean GPU time; the run model keeps GPU time, "
            + "not start times) and their kernels on a track below; counter tracks of operator power (W), operator energy (mJ) and "
            + "cumulative operator energy (mJ); the capture's power.csv on the same clock; and with --report the report's findings.")
        {
            bundle, output, report, side,
        };
        var limits = new InputLimitOptionSet();
        limits.AddTo(command);
        command.SetAction(limits.Scoped((pr, ct) => RunAsync(pr.GetValue(bundle)!, pr.GetValue(output)!, pr.GetValue(report), pr.GetValue(side), stdout, stderr, ct)));
        return command;
    }

    public static async Task<int> RunAsync(string bundle, string output, string? reportFile, Side? side, TextWriter stdout, TextWriter stderr,
        CancellationToken ct)
    {
        if (!Directory.Exists(bundle) && !File.Exists(bundle)) throw new UsageException($"{bundle}: bundle not found (no such directory)");
        string? outFile = output == "-" ? null : CheckOutput(output);

        ComparisonReport? report = reportFile is null ? null : await ReadReportAsync(reportFile, ct).ConfigureAwait(false);
        var run = Pipeline.Ingest(bundle);
        if (report is not null) side ??= SideOf(bundle, run.System, report, reportFile!);

        string json = PerfettoTrace.Build(run, report, side);
        if (outFile is null) await stdout.WriteLineAsync(json).ConfigureAwait(false);
        else
        {
            try
            {
                await File.WriteAllTextAsync(outFile, json + "\n", new UTF8Encoding(false), ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"{output}: cannot write the trace: {Program.OneLine(e.Message)}");
            }
            await stderr.WriteLineAsync($"trace: {outFile} ({run.Operators.Length} operators"
                + (report is null ? "" : $", {report.Findings.Count} finding(s) of side {side!.Value.Json()}") + "); open it in ui.perfetto.dev").ConfigureAwait(false);
        }
        return Program.Ok;
    }

    static string CheckOutput(string path)
    {
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new UsageException($"{path}: --out names a directory, not a file");
        var dir = Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
            throw new UsageException($"{path}: cannot write the trace: directory {dir} does not exist");
        return full;
    }

    static async Task<ComparisonReport> ReadReportAsync(string file, CancellationToken ct)
    {
        if (!File.Exists(file)) throw new UsageException($"{file}: report not found");
        ComparisonReport? report;
        try
        {
            await using var stream = File.OpenRead(file);
            report = await JsonSerializer.DeserializeAsync<ComparisonReport>(stream, ReportJson.Options, ct).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            throw new UsageException($"{file}: {(e.Path is { Length: > 0 } p ? p + ": " : "")}not a magneton report: {Program.OneLine(e.Message)}");
        }
        if (report is null || report.Schema != ComparisonReport.SchemaName)
            throw new UsageException($"{file}: schema: expected \"{ComparisonReport.SchemaName}\" (a report of magneton compare --json)");
        return report;
    }

    /// <summary>Which side of the report the bundle is: by its path, else by its system name.</summary>
    static Side SideOf(string bundle, string system, ComparisonReport report, string reportFile)
    {
        static string Norm(string p) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(p));
        string path = Norm(bundle);
        bool a = SamePath(report.A.Bundle), b = SamePath(report.B.Bundle);
        if (a != b) return a ? Side.A : Side.B;
        bool sa = report.A.System == system, sb = report.B.System == system;
        if (sa != sb) return sa ? Side.A : Side.B;
        throw new UsageException($"{reportFile}: a, b: cannot tell which side of the report {bundle} is (bundle and system "
            + (a && b ? "match both" : "match neither") + "); add --side a|b");

        bool SamePath(string reported)
        {
            try { return reported.Length > 0 && Norm(reported) == path; }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException) { return false; }
        }
    }
}
