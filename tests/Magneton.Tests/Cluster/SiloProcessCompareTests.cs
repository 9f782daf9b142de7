using System.Text.Json;
using Magneton.Client;
using Magneton.Tests.Analysis;
using Magneton.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.Cluster;

/// <summary>
/// <c>magneton compare --cluster</c> against two <c>magneton silo</c> processes gives the same findings as the
/// embedded compare of the same pair.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class SiloProcessCompareTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Compare_on_a_two_silo_cluster_finds_what_the_embedded_compare_finds()
    {
        string a = Path.Combine(Samples.Root, "samples", "gpt2-gelu", "A-hf-gpt2-gelu_new");
        string b = Path.Combine(Samples.Root, "samples", "gpt2-gelu", "B-hf-gpt2-gelu_pytorch_tanh");
        var work = Directory.CreateTempSubdirectory("magneton-cluster-compare-");
        string storage = Path.Combine(work.FullName, "store");
        string clusterReport = Path.Combine(work.FullName, "cluster.json");
        string embeddedReport = Path.Combine(work.FullName, "embedded.json");
        try
        {
            // Default cluster and service ids: the CLI's --cluster client uses the same defaults.
            await using var first = await MagnetonProcess.StartOnFreePortsAsync((_, _) => ["--storage-dir", storage]);
            await using var second = await MagnetonProcess.StartOnFreePortsAsync((_, _) =>
                ["--storage-dir", storage, "--primary", $"127.0.0.1:{first.SiloEndpoint.Port}"]);

            var (code, err) = await Run("compare", "--cluster", $"127.0.0.1:{first.GatewayEndpoint.Port}", a, b,
                "--json", clusterReport, "--quiet");
            Assert.True(code == 0, $"compare --cluster exited {code}: {err}\nsilo 1 stderr:\n{first.StderrTail(30)}\nsilo 2 stderr:\n{second.StderrTail(30)}");

            (code, err) = await Run("compare", a, b, "--json", embeddedReport, "--quiet");
            Assert.True(code == 0, $"embedded compare exited {code}: {err}");

            string clusterFindings = Findings(clusterReport), embeddedFindings = Findings(embeddedReport);
            output.WriteLine(embeddedFindings.Length > 2000 ? embeddedFindings[..2000] + "..." : embeddedFindings);
            Assert.NotEqual("[]", embeddedFindings);
            Assert.Equal(embeddedFindings, clusterFindings);

            Assert.Equal(0, await second.StopAsync());
            Assert.Equal(0, await first.StopAsync());
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    static string Findings(string reportFile)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(reportFile));
        return doc.RootElement.GetProperty("findings").GetRawText();
    }

    static async Task<(int Code, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await Program.RunAsync(args, stdout, stderr);
        return (code, stderr.ToString());
    }
}
