using System.Text;
using System.Text.Json;
using Magneton.Core;
using Magneton.Core.Reporting;
using Magneton.Core.Reporting.Perfetto;

namespace Magneton.Client;

/// <summary>
/// <c>magneton export &lt;bundle&gt; --out &lt;trace.json|-&gt; [--report &lt;report.json&gt;] [--side a|b]</c>: a capture as a
/// Chrome trace-event JSON for ui.perfetto.dev (operators and kernels as slices, per-operator power and energy and
/// the power.csv timeline as counters, the report's findings as annotations). Runs locally: no silo.
/// </summary>
public static class ExportCommand
{
    public const string Help = """
        magneton export <bundle> --out <trace.json|-> [--report <report.json>] [--side a|b]

        Writes the bundle's run as a Chrome trace-event JSON, which ui.perfetto.dev and chrome://tracing open:
          - one iteration of the energy pass: operators as slices (laid out back to back by their mean GPU time;
            the run model keeps GPU time, not start times) and their kernels on a track below,
          - counter tracks: operator power (W), operator energy (mJ), cumulative operator energy (mJ),
          - the capture's power.csv as a counter track on the same clock,
          - with --report (a magneton.report/1 JSON from compare --json): each finding as an instant event on the
            first operator of each of its regions, and as a span on a "findings" track. The bundle's side in the
            report is found from its path or system name; --side a|b says it when neither matches.

        """;

    public static async Task<int> RunAsync(string[] argv, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        string? bundle = null, output = null, reportFile = null, side = null;
        for (int i = 0; i < argv.Length; i++)
        {
            string a = argv[i];
            string Next() => i + 1 < argv.Length ? argv[++i] : throw new UsageException($"option {a} needs a value");
            switch (a)
            {
                case "-h" or "--help": await stdout.WriteAsync(Help).ConfigureAwait(false); return Program.Ok;
                case "--out" or "-o": output = Next(); break;
                case "--report": reportFile = Next(); break;
                case "--side":
                    side = Next().ToLowerInvariant();
                    if (side is not ("a" or "b")) throw new UsageException($"--side: '{argv[i]}' is not a or b");
                    break;
                default:
                    if (a.StartsWith('-') && a != "-") throw new UsageException($"unknown option '{a}' for export (see magneton export --help)");
                    if (bundle is not null) throw new UsageException($"unexpected argument '{a}': export takes one bundle");
                    bundle = a;
                    break;
            }
        }
        if (bundle is null) throw new UsageException("export needs a bundle: magneton export <bundle> --out <trace.json>");
        if (output is null) throw new UsageException("export needs --out <trace.json> (or --out - for stdout)");
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
                + (report is null ? "" : $", {report.Findings.Count} finding(s) of side {side}") + "); open it in ui.perfetto.dev").ConfigureAwait(false);
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
    static string SideOf(string bundle, string system, ComparisonReport report, string reportFile)
    {
        static string Norm(string p) => Path.TrimEndingDirectorySeparator(Path.GetFullPath(p));
        string path = Norm(bundle);
        bool a = SamePath(report.A.Bundle), b = SamePath(report.B.Bundle);
        if (a != b) return a ? "a" : "b";
        bool sa = report.A.System == system, sb = report.B.System == system;
        if (sa != sb) return sa ? "a" : "b";
        throw new UsageException($"{reportFile}: a, b: cannot tell which side of the report {bundle} is (bundle and system "
            + (a && b ? "match both" : "match neither") + "); add --side a|b");

        bool SamePath(string reported)
        {
            try { return reported.Length > 0 && Norm(reported) == path; }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException) { return false; }
        }
    }
}
