using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Magneton.Core;
using Magneton.Core.Bundles;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.Bundles;

/// <summary>
/// Every sample bundle, damaged in each file (cut in half, a NUL byte in the middle, swapped with the pair's other
/// side and with a bundle of another pair), given a cyclic dataflow and a FIFO: each mutation is either refused with
/// one line naming a file of the bundle (BundleException, the CLI's exit 2) or gives the intact pair's report, never
/// another report and never any other exception.
/// </summary>
public sealed class MutatedBundleTests(ITestOutputHelper output)
{
    private static readonly string[] Files =
    [
        BundleFiles.Dataflow, BundleFiles.Kineto, BundleFiles.Power, BundleFiles.Measure, BundleFiles.BaselinePower,
        BundleFiles.Replay, BundleFiles.ReplayCounter, BundleFiles.Context,
    ];

    private static readonly ConcurrentDictionary<string, Lazy<string>> IntactReports = new();

    public static IEnumerable<object[]> Bundles => SampleBundles.All().Select(b => new object[] { b });

    [Theory]
    [MemberData(nameof(Bundles))]
    public void Each_mutation_is_refused_in_one_line_or_changes_nothing(string sample)
    {
        var all = SampleBundles.All().ToList();
        string partner = all.Single(b => b != sample && Path.GetDirectoryName(b) == Path.GetDirectoryName(sample));
        string other = all[(all.IndexOf(sample) + 2) % all.Count]; // the same side of the next pair
        var mutations = new List<(string Name, Action<TempBundle> Apply)>();
        foreach (var f in Files)
        {
            mutations.Add(($"{f} cut in half", t => Truncate(t.File(f))));
            mutations.Add(($"{f} with a NUL byte", t => InsertNul(t.File(f))));
            mutations.Add(($"{f} of {partner}", t => File.Copy(Path.Combine(SampleBundles.Dir(partner), f), t.File(f), true)));
            mutations.Add(($"{f} of {other}", t => File.Copy(Path.Combine(SampleBundles.Dir(other), f), t.File(f), true)));
        }
        mutations.Add(("dataflow with a cycle", t => AddCycle(t)));
        mutations.Add(("power.csv a FIFO", t => HostileInput.MakeFifo(t.File(BundleFiles.Power))));

        int refused = 0, same = 0;
        var wrong = new List<string>();
        foreach (var (name, apply) in mutations)
        {
            using var temp = new TempBundle(sample);
            apply(temp);
            try
            {
                var report = Report(sample, partner, temp.Path);
                if (report == Intact(sample, partner)) same++;
                else wrong.Add($"{name}: accepted with another report");
            }
            catch (BundleException e)
            {
                refused++;
                if (e.Message.Contains('\n') || !Files.Any(f => e.File.EndsWith(f, StringComparison.Ordinal)))
                    wrong.Add($"{name}: refused, but not in one line naming a bundle file: {e.Message}");
                output.WriteLine($"{name}: {e.Message}");
            }
            catch (Exception e)
            {
                wrong.Add($"{name}: {e.GetType().Name}: {e.Message}");
            }
        }
        output.WriteLine($"{sample}: {mutations.Count} mutations, {refused} refused, {same} same report");
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    private static string Intact(string sample, string partner) =>
        IntactReports.GetOrAdd(sample, _ => new Lazy<string>(() => Report(sample, partner, SampleBundles.Dir(sample)))).Value;

    /// <summary>The pair's report with <paramref name="directory"/> as the sample's side, named as the sample.</summary>
    private static string Report(string sample, string partner, string directory)
    {
        var run = Pipeline.Ingest(directory, SampleBundles.Dir(sample));
        var other = Pipeline.Ingest(SampleBundles.Dir(partner));
        bool isA = Path.GetFileName(sample).StartsWith("A-", StringComparison.Ordinal);
        var report = isA ? Pipeline.Compare(run, other, new CompareOptions()) : Pipeline.Compare(other, run, new CompareOptions());
        return JsonSerializer.Serialize(report with { Matching = report.Matching with { ElapsedMs = 0 } }, ReportJson.Options);
    }

    private static void Truncate(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.SetLength(f.Length / 2);
    }

    private static void InsertNul(string path)
    {
        var bytes = File.ReadAllBytes(path).ToList();
        bytes.Insert(bytes.Count / 2, 0);
        File.WriteAllBytes(path, [.. bytes]);
    }

    /// <summary>The last node that reads an earlier node's value; that earlier node now also reads its output.</summary>
    private static void AddCycle(TempBundle t) => t.EditJson(BundleFiles.Dataflow, root =>
    {
        var nodes = root["nodes"]!.AsArray();
        var values = root["values"]!.AsObject();
        for (int i = nodes.Count - 1; i >= 0; i--)
        {
            var outs = nodes[i]!["out"]!.AsArray();
            foreach (var v in nodes[i]!["in"]!.AsArray())
                if (outs.Count > 0 && values[v!.ToString()]!["producer"] is JsonValue p)
                {
                    int producer = p.GetValue<int>();
                    nodes.Single(n => n!["id"]!.GetValue<int>() == producer)!["in"]!.AsArray().Add(outs[0]!.GetValue<int>());
                    return;
                }
        }
        throw new InvalidOperationException("no edge to turn into a cycle");
    });
}
