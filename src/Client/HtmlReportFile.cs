using System.Text;
using Magneton.Core.Bundles;
using Magneton.Core.Reporting;
using Magneton.Core.Rendering.Html;

namespace Magneton.Client;

/// <summary>
/// <c>--html &lt;file&gt;</c> of compare, campaign and audit: the path checked before any work, the page written after.
/// The comparison page's power timeline reads each run's power.csv where the bundle argument is a local bundle
/// directory; a stored run (<c>run:&lt;id&gt;</c>) or a plain profiler trace has none here, and the page says so.
/// </summary>
public static class HtmlReportFile
{
    /// <summary>The full path of the page to write; bad input (exit 2) when it cannot be written there.</summary>
    public static string Check(string path)
    {
        if (path.Length == 0 || path == "-") throw new UsageException("option --html needs a file name");
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new UsageException($"{path}: --html names a directory, not a file");
        var dir = Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir))
            throw new UsageException($"{path}: cannot write the HTML report: directory {dir} does not exist");
        return full;
    }

    public static async Task WriteAsync(string file, string html, CancellationToken ct)
    {
        try
        {
            await File.WriteAllTextAsync(file, html, new UTF8Encoding(false), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"{file}: cannot write the HTML report: {Program.OneLine(e.Message)}");
        }
    }

    /// <summary>The comparison page, with the power timeline of the bundles that are local directories.</summary>
    public static Task WriteComparisonAsync(string file, ComparisonReport report, string bundleA, string bundleB, CancellationToken ct)
    {
        var (a, noteA) = LoadPower(bundleA);
        var (b, noteB) = LoadPower(bundleB);
        string? note = (noteA, noteB) switch
        {
            (null, null) => null,
            (not null, null) => "A: " + noteA,
            (null, not null) => "B: " + noteB,
            _ => noteA == noteB ? noteA : $"A: {noteA}; B: {noteB}",
        };
        return WriteAsync(file, HtmlReport.Render(report, a, b, note), ct);
    }

    /// <summary>A bundle argument's power.csv samples, or null and why not.</summary>
    public static (PowerSamples? Samples, string? Note) LoadPower(string bundle)
    {
        if (RunArgument.Is(bundle))
            return (null, "a stored run of the cluster; its power.csv is not on this machine");
        if (!Directory.Exists(bundle)) return (null, "not a capture bundle directory (no power.csv)");
        var path = Path.Combine(bundle, "power.csv");
        if (!File.Exists(path)) return (null, "the bundle has no power.csv");
        try
        {
            return (PowerCsvReader.Read(path, "power.csv"), null);
        }
        catch (Exception e) when (e is BundleException or IOException or UnauthorizedAccessException)
        {
            return (null, "power.csv cannot be read: " + Program.OneLine(e.Message));
        }
    }
}
