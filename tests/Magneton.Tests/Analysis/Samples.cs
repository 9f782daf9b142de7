using System.Collections.Concurrent;
using Magneton.Core;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Runs;

namespace Magneton.Tests.Analysis;

/// <summary>The real H100 sample pairs, ingested once per test run and shared (runs are read-only after ingest).</summary>
public static class Samples
{
    static readonly ConcurrentDictionary<string, Lazy<Run>> Runs = new();
    static readonly ConcurrentDictionary<string, Lazy<ComparisonReport>> Reports = new();

    public static string Root => Grains.TestRepo.Root;

    /// <summary>The bundle directory of a pair's side ("A" or "B").</summary>
    public static string Bundle(string pair, string role) => Grains.TestRepo.Bundle(pair, role);

    public static Run Run(string pair, string role) =>
        Runs.GetOrAdd(pair + "/" + role, k => new Lazy<Run>(() => Pipeline.Ingest(Bundle(pair, role)))).Value;

    public static ComparisonReport Compare(string pair) =>
        Reports.GetOrAdd(pair, p => new Lazy<ComparisonReport>(() =>
            Pipeline.Compare(Run(p, "A"), Run(p, "B"), new CompareOptions()))).Value;
}
