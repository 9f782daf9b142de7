using System.Text.Json;
using Magneton.Client;
using Magneton.Tests.Analysis;
using Xunit;

namespace Magneton.Tests.Scaling;

/// <summary>
/// <c>magneton bench</c> as a user runs it, with its defaults: the generated pair carries planted differences (every
/// 4th added step) and the comparison reports the isolated ones and nothing else. Since the move to
/// System.CommandLine the absent --plant-at arrived as an empty list, which meant "no occurrence": the bench planted
/// nothing and measured a comparison without a finding to diagnose.
/// </summary>
public sealed class BenchCommandTests
{
    [Fact]
    public async Task The_default_bench_plants_differences_and_reports_each_isolated_one_and_nothing_else()
    {
        var work = Directory.CreateTempSubdirectory("magneton-bench-");
        try
        {
            string json = Path.Combine(work.FullName, "bench.json");
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = await Program.RunAsync(["bench", "--operators", "20k", "--no-python", "--samples",
                Path.Combine(Samples.Root, "samples"), "--out-dir", Path.Combine(work.FullName, "pair"), "--json", json], stdout, stderr);
            Assert.True(code == 0, $"bench exited {code}: {stderr}");

            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var r = doc.RootElement;
            int planted = r.GetProperty("planted").GetInt32(), isolated = r.GetProperty("planted_isolated").GetInt32();
            Assert.True(planted > 0, $"nothing planted: {r}");
            Assert.True(isolated > 0 && isolated <= planted, $"planted {planted}, isolated {isolated}");
            Assert.Equal(isolated, r.GetProperty("planted_reported").GetInt32());
            Assert.Equal(0, r.GetProperty("false_findings").GetInt32());
            Assert.True(r.GetProperty("findings").GetInt32() >= 1, r.ToString());
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }
}
