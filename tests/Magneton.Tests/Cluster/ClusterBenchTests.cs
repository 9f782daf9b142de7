using System.Text.Json;
using Magneton.Client;
using Magneton.Tests.Analysis;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Cluster;

/// <summary>
/// <c>magneton bench --cluster</c> against two <c>magneton silo</c> processes: the generated pair's comparison through
/// the cluster comes out as the embedded bench's (regions, findings, plants) and reports every silo's peak memory.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class ClusterBenchTests
{
    [Fact]
    public async Task Bench_through_a_two_silo_cluster_reports_the_embedded_benchs_outcome_and_each_silos_peak()
    {
        var work = Directory.CreateTempSubdirectory("magneton-cluster-bench-");
        string pair = Path.Combine(work.FullName, "pair");
        string storage = Path.Combine(work.FullName, "store");
        string samples = Path.Combine(Samples.Root, "samples");
        try
        {
            var (code, err) = await Run("bench", "--operators", "5000", "--samples", samples, "--out-dir", pair, "--no-python",
                "--json", Path.Combine(work.FullName, "embedded.json"));
            Assert.True(code == 0, $"embedded bench exited {code}: {err}");
            using (var generated = JsonDocument.Parse(File.ReadAllText(Path.Combine(work.FullName, "embedded.json"))))
                Assert.True(generated.RootElement.GetProperty("planted").GetInt32() > 0, "the default bench plants differences");

            await using var first = await MagnetonProcess.StartOnFreePortsAsync((_, _) => ["--storage-dir", storage, "--allow-path", pair]);
            await using var second = await MagnetonProcess.StartOnFreePortsAsync((_, _) =>
                ["--storage-dir", storage, "--allow-path", pair, "--primary", $"127.0.0.1:{first.SiloEndpoint.Port}"]);
            (code, err) = await Run("bench", "--operators", "5000", "--samples", samples, "--out-dir", pair, "--reuse", "--no-python",
                "--cluster", $"127.0.0.1:{first.GatewayEndpoint.Port},127.0.0.1:{second.GatewayEndpoint.Port}",
                "--json", Path.Combine(work.FullName, "cluster.json"));
            Assert.True(code == 0, $"bench --cluster exited {code}: {err}\nsilo 1 stderr:\n{first.StderrTail(30)}\nsilo 2 stderr:\n{second.StderrTail(30)}");

            using var embedded = JsonDocument.Parse(File.ReadAllText(Path.Combine(work.FullName, "embedded.json")));
            using var cluster = JsonDocument.Parse(File.ReadAllText(Path.Combine(work.FullName, "cluster.json")));
            foreach (var field in new[] { "operators", "operators_b", "regions", "findings", "planted", "planted_reported", "planted_isolated", "false_findings" })
                Assert.Equal(embedded.RootElement.GetProperty(field).GetInt32(), cluster.RootElement.GetProperty(field).GetInt32());
            foreach (var field in new[] { "compare_ms", "match_ms", "bundle_ingest_ms", "peak_mb", "ingest_mb_s" })
                Assert.True(cluster.RootElement.GetProperty(field).GetDouble() > 0, $"{field}: {cluster.RootElement.GetProperty(field)}");
            var silos = cluster.RootElement.GetProperty("silos").EnumerateArray().ToList();
            Assert.Equal(2, silos.Count);
            Assert.All(silos, s => Assert.True(s.GetProperty("peak_mb").GetDouble() > 10, s.GetRawText()));
            Assert.Equal(silos.Max(s => s.GetProperty("peak_mb").GetDouble()), cluster.RootElement.GetProperty("peak_mb").GetDouble());

            Assert.Equal(0, await second.StopAsync());
            Assert.Equal(0, await first.StopAsync());
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    static async Task<(int Code, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await Program.RunAsync(args, stdout, stderr);
        return (code, stderr.ToString());
    }
}
