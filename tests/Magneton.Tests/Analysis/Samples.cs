using System.Collections.Concurrent;
using Magneton.Core;
using Magneton.Core.Reporting;
using Magneton.Core.Runs;

namespace Magneton.Tests.Analysis;

/// <summary>The real H100 sample pairs, ingested once per test run and shared (runs are read-only after ingest).</summary>
public static class Samples
{
    static readonly ConcurrentDictionary<string, Lazy<Run>> Runs = new();
    static readonly ConcurrentDictionary<string, Lazy<ComparisonReport>> Reports = new();

    public static string Root { get; } = FindRoot();

    static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Magneton.sln"))) return d.FullName;
        throw new InvalidOperationException("Magneton.sln not found above " + AppContext.BaseDirectory);
    }

    public static string SharedData => Path.GetFullPath(Path.Combine(Root, "..", "shared", "data"));

    /// <summary>The bundle directory of a pair's side ("A" or "B").</summary>
    public static string Bundle(string pair, string role) =>
        Directory.GetDirectories(Path.Combine(Root, "samples", pair)).Single(d => Path.GetFileName(d).StartsWith(role + "-"));

    public static Run Run(string pair, string role) =>
        Runs.GetOrAdd(pair + "/" + role, k => new Lazy<Run>(() => Pipeline.Ingest(Bundle(pair, role)))).Value;

    public static ComparisonReport Compare(string pair) =>
        Reports.GetOrAdd(pair, p => new Lazy<ComparisonReport>(() =>
            Pipeline.Compare(Run(p, "A"), Run(p, "B"), new CompareOptions()))).Value;
}
