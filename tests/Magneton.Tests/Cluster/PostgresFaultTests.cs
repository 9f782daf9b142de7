using System.Diagnostics;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.Cluster;

/// <summary>
/// PostgreSQL membership (the mode for real clusters) with a silo killed -9 while a <c>compare --cluster</c>
/// client waits: the survivors declare it dead, the job resumes on one of them and the client finishes.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class PostgresFaultTests(Postgres postgres, ITestOutputHelper output) : IClassFixture<Postgres>, IDisposable
{
    /// <summary>From the kill to the client's result: membership needs its probes (about 15-30 s) to declare the silo dead.</summary>
    static readonly TimeSpan AfterKill = TimeSpan.FromSeconds(90);

    readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("magneton-pgfault-");

    public void Dispose()
    {
        try { _work.Delete(recursive: true); } catch (IOException) { }
    }

    [PostgresFact]
    public async Task A_silo_killed_during_a_compare_is_declared_dead_and_the_client_finishes_with_the_findings()
    {
        string expected = await InFlightFaultTests.EmbeddedFindingsAsync(_work.FullName);
        string db = await postgres.CreateDatabaseAsync();
        string clusterId = "pgfault-" + Guid.NewGuid().ToString("N")[..8];
        string store = Path.Combine(_work.FullName, "store");
        var env = new Dictionary<string, string?> { ["MAGNETON_CLUSTER_ID"] = clusterId };
        string[] Args() => ["--postgres", db, "--storage-dir", store];
        var first = await MagnetonProcess.StartOnFreePortsAsync((_, _) => Args(), env);
        await using var second = await MagnetonProcess.StartOnFreePortsAsync((_, _) => Args(), env);
        string gateways = $"127.0.0.1:{first.GatewayEndpoint.Port},127.0.0.1:{second.GatewayEndpoint.Port}";
        string report = Path.Combine(_work.FullName, "report.json");
        await using var client = MagnetonProcess.StartClient(
            ["compare", "--cluster", gateways, TestRepo.GeluA, TestRepo.GeluB, "--json", report, "--quiet"], env);

        await InFlightFaultTests.Until(() => InFlightFaultTests.Count(client.Stderr, "run-") >= 2 || client.HasExited,
            "the client uploaded both bundles", client);
        var sw = Stopwatch.StartNew();
        first.Kill();
        await first.DisposeAsync();

        var code = await client.WaitForExitAsync(AfterKill + TimeSpan.FromSeconds(10));
        output.WriteLine($"exit {code} {sw.Elapsed.TotalSeconds:0.0} s after the kill; client stderr:\n{client.Stderr}");
        Assert.True(code == 0, $"client exit {code?.ToString() ?? "none (still running)"}:\n{client.Stderr}\nsurvivor:\n{second.StderrTail(30)}");
        Assert.True(sw.Elapsed < AfterKill, $"finished {sw.Elapsed} after the kill");
        Assert.Equal(expected, InFlightFaultTests.Findings(report));
    }
}
