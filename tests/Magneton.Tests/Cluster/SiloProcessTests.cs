using System.Diagnostics;
using System.Net;
using Magneton.Client;
using Magneton.Silo;
using Magneton.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Runtime;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.Cluster;

/// <summary>A local cluster of two <c>magneton silo</c> processes (localhost clustering), and the silo command line.</summary>
[Collection(SiloProcessCollection.Name)]
public sealed class SiloProcessTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Two_silo_processes_form_one_cluster_and_stop_cleanly_on_SIGTERM()
    {
        var storage = Directory.CreateTempSubdirectory("magneton-silos-");
        string clusterId = "test-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            await using var first = await MagnetonProcess.StartOnFreePortsAsync((_, _) =>
                ["--storage-dir", storage.FullName, "--cluster-id", clusterId]);
            await using var second = await MagnetonProcess.StartOnFreePortsAsync((_, _) =>
                ["--storage-dir", storage.FullName, "--cluster-id", clusterId, "--primary", $"127.0.0.1:{first.SiloEndpoint.Port}"]);
            output.WriteLine(first.ReadyLine);
            output.WriteLine(second.ReadyLine);
            output.WriteLine($"ready after {first.StartTime.TotalSeconds:0.00} s and {second.StartTime.TotalSeconds:0.00} s");

            // The ready line: loopback by default, the cluster id, the shared directory store; nothing else on stdout.
            Assert.Equal(IPAddress.Loopback, first.SiloEndpoint.Address);
            Assert.Equal(IPAddress.Loopback, first.GatewayEndpoint.Address);
            Assert.Equal(clusterId, first.Field("cluster"));
            Assert.Contains(storage.FullName, first.Field("storage"));
            Assert.Contains(storage.FullName, second.Field("storage"));
            Assert.Single(first.StdoutLines);

            var hosts = await ActiveHostsAsync(clusterId, [first.GatewayEndpoint, second.GatewayEndpoint], expected: 2);
            Assert.Equal(2, hosts.Count);
            Assert.Contains(first.SiloEndpoint, hosts);
            Assert.Contains(second.SiloEndpoint, hosts);

            // SIGTERM: each stops gracefully and exits 0 (the secondary first: the primary holds the membership).
            var sw = Stopwatch.StartNew();
            Assert.Equal(0, await second.StopAsync(TimeSpan.FromSeconds(10)));
            var secondStop = sw.Elapsed;
            sw.Restart();
            Assert.Equal(0, await first.StopAsync(TimeSpan.FromSeconds(10)));
            output.WriteLine($"stopped in {secondStop.TotalSeconds:0.00} s and {sw.Elapsed.TotalSeconds:0.00} s");
            Assert.Contains("Orleans Silo stopped", first.StderrTail(200));
        }
        finally
        {
            storage.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The silo's runtime settings (<see cref="SiloRuntimeSettings"/>) are in the environment of the very process
    /// that was started and serves (the one whose ready line arrived): it executed itself again rather than start a
    /// child. A setting it was given is kept.
    /// </summary>
    [Fact]
    public async Task A_silo_runs_with_its_runtime_settings_in_its_own_process_and_keeps_one_it_was_given()
    {
        var storage = Directory.CreateTempSubdirectory("magneton-silo-env-");
        try
        {
            await using var silo = await MagnetonProcess.StartOnFreePortsAsync((_, _) => ["--storage-dir", storage.FullName],
                new Dictionary<string, string?> { ["DOTNET_TC_CallCountingDelayMs"] = null, ["DOTNET_GCConserveMemory"] = "5", ["DOTNET_TieredPGO"] = null });
            var environ = File.ReadAllText($"/proc/{silo.Pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
                .Select(v => v.Split('=', 2)).ToDictionary(v => v[0], v => v[1]);
            Assert.Equal("0", environ["DOTNET_TC_CallCountingDelayMs"]);
            Assert.Equal("5", environ["DOTNET_GCConserveMemory"]);
            Assert.Equal("0", environ["DOTNET_TieredPGO"]);
            var argv = File.ReadAllText($"/proc/{silo.Pid}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal([MagnetonProcess.MagnetonDll, "silo", "--silo-port", silo.SiloEndpoint.Port.ToString()], argv[1..5]);
            Assert.Equal(0, await silo.StopAsync(TimeSpan.FromSeconds(10)));
        }
        finally
        {
            storage.Delete(recursive: true);
        }
    }

    /// <summary>Connects a client through the gateways and waits until the cluster reports <paramref name="expected"/> active silos.</summary>
    internal static async Task<IReadOnlyList<IPEndPoint>> ActiveHostsAsync(string clusterId, IPEndPoint[] gateways, int expected)
    {
        using var client = new HostBuilder()
            .UseOrleansClient(c => c
                .UseStaticClustering(gateways)
                .Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = SiloHostOptions.DefaultServiceId; })
                .AddMagnetonClient())
            .Build();
        await client.StartAsync();
        try
        {
            var management = client.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            while (true)
            {
                var hosts = await management.GetHosts(onlyActive: true);
                if (hosts.Count >= expected || DateTime.UtcNow > deadline)
                    return hosts.Keys.Select(s => s.Endpoint).ToList();
                await Task.Delay(200);
            }
        }
        finally
        {
            await client.StopAsync();
        }
    }

    static Task<CliResult> Run(params string[] args) => CliRunner.Run(args);

    [Theory]
    [InlineData("--silo-port", "--silo-port", "abc")]
    [InlineData("--silo-port", "--silo-port", "0")]
    [InlineData("--gateway-port", "--gateway-port", "70000")]
    [InlineData("--gateway-port", "--silo-port", "12000", "--gateway-port", "12000")]
    [InlineData("--silo-port", "--silo-port")]
    [InlineData("--primary", "--primary", "no-port-here")]
    [InlineData("--primary", "--primary", "127.0.0.1:99999")]
    [InlineData("--listen", "--listen", "999.1.1.1")]
    [InlineData("--telemetry", "--telemetry", "jaeger")]
    [InlineData("--cluster-id", "--cluster-id", "has space")]
    [InlineData("--container", "--container", "Not_A_Container")]
    [InlineData("--storage-dir", "--storage-dir", "/tmp/x", "--blob-connection", "UseDevelopmentStorage=true")]
    [InlineData("--frobnicate", "--frobnicate")]
    [InlineData("'extra'", "extra")]
    public async Task Bad_silo_flags_are_one_line_usage_errors(string mustName, params string[] flags)
    {
        var r = await Run(["silo", .. flags]);
        Assert.Equal(2, r.Code);
        Assert.Equal("", r.Out);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("magneton: error: ", lines[0]);
        Assert.Contains(mustName, lines[0]);
    }

    [Fact]
    public async Task Silo_help_lists_every_flag()
    {
        var r = await Run("silo", "--help");
        Assert.Equal(0, r.Code);
        foreach (var flag in new[] { "--silo-port", "--gateway-port", "--primary", "--listen", "--storage-dir", "--blob-connection",
                                     "--container", "--cluster-id", "--service-id", "--postgres", "--telemetry" })
            Assert.Contains(flag, r.Out);
    }

    static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void Defaults_without_flags_or_environment()
    {
        var a = SiloArguments.Parse([], Env(("HOME", "/home/u")));
        Assert.Equal(11111, a.SiloPort);
        Assert.Equal(30000, a.GatewayPort);
        Assert.Null(a.Primary);
        Assert.Null(a.Listen);
        Assert.Equal("/home/u/.local/share/magneton", a.StorageDir);
        Assert.Null(a.BlobConnection);
        Assert.Equal("magneton", a.Container);
        Assert.Equal("magneton", a.ClusterId);
        Assert.Equal("magneton", a.ServiceId);
        Assert.Null(a.Postgres);
        Assert.Equal(TelemetryExport.None, a.Telemetry);
        Assert.False(a.Kubernetes);

        var o = a.ToHostOptions();
        Assert.Equal("/home/u/.local/share/magneton", o.Storage!.Directory);
        Assert.Null(o.PostgresConnectionString);
    }

    [Fact]
    public void Environment_supplies_defaults_and_flags_win()
    {
        var env = Env(("XDG_DATA_HOME", "/data"), ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
                      ("MAGNETON_POSTGRES", "Host=db;Username=orleans"), ("MAGNETON_CLUSTER_ID", "c1"));
        var a = SiloArguments.Parse([], env);
        Assert.Equal("/data/magneton", a.StorageDir);
        Assert.Equal(TelemetryExport.Otlp, a.Telemetry);
        Assert.Equal("Host=db;Username=orleans", a.Postgres);
        Assert.Equal("c1", a.ClusterId);

        var b = SiloArguments.Parse(["--telemetry", "none", "--postgres", "Host=other", "--cluster-id", "c2", "--listen", "0.0.0.0"], env);
        Assert.Equal(TelemetryExport.None, b.Telemetry);
        Assert.Equal("Host=other", b.Postgres);
        Assert.Equal("c2", b.ClusterId);
        Assert.Equal(IPAddress.Any, b.Listen);

        var blob = SiloArguments.Parse([], Env(("MAGNETON_BLOB_CONNECTION", "UseDevelopmentStorage=true"), ("HOME", "/h")));
        Assert.Equal("UseDevelopmentStorage=true", blob.BlobConnection);
        Assert.Null(blob.StorageDir);
        Assert.Null(blob.ToHostOptions().Storage!.Directory);
        Assert.Null(blob.ToHostOptions().Storage!.CacheDirectory);

        // The download cache: the flag, else the environment (Kubernetes mounts a volume for it); a directory store has none.
        var cached = SiloArguments.Parse(["--blob-connection", "UseDevelopmentStorage=true"], Env(("MAGNETON_CACHE_DIR", "/var/cache/magneton")));
        Assert.Equal("/var/cache/magneton", cached.ToHostOptions().Storage!.CacheDirectory);
        var flag = SiloArguments.Parse(["--blob-connection", "UseDevelopmentStorage=true", "--cache-dir", "/c"], Env(("MAGNETON_CACHE_DIR", "/e")));
        Assert.Equal("/c", flag.CacheDir);
        Assert.Null(SiloArguments.Parse([], Env(("MAGNETON_CACHE_DIR", "/e"), ("HOME", "/h"))).CacheDir);
        var refused = Assert.Throws<UsageException>(() => SiloArguments.Parse(["--storage-dir", "/s", "--cache-dir", "/c"], Env()));
        Assert.StartsWith("--cache-dir:", refused.Message);

        // The cache's bound: default (null: the store's 16 GiB), flag, variable; blob only; a positive size.
        Assert.Null(blob.CacheMaxBytes);
        Assert.Equal(512L << 20, SiloArguments.Parse(["--blob-connection", "UseDevelopmentStorage=true", "--cache-max-gb", "0.5"], Env()).CacheMaxBytes);
        var fromEnv = SiloArguments.Parse(["--blob-connection", "UseDevelopmentStorage=true"], Env(("MAGNETON_CACHE_MAX_GB", "8")));
        Assert.Equal(8L << 30, fromEnv.ToHostOptions().Storage!.CacheMaxBytes);
        Assert.StartsWith("--cache-max-gb:", Assert.Throws<UsageException>(() => SiloArguments.Parse(["--storage-dir", "/s", "--cache-max-gb", "1"], Env())).Message);
        foreach (var bad in new[] { "0", "-1", "lots", "1e3" })
            Assert.StartsWith("--cache-max-gb:", Assert.Throws<UsageException>(() =>
                SiloArguments.Parse(["--blob-connection", "UseDevelopmentStorage=true", "--cache-max-gb", bad], Env())).Message);

        var primary = SiloArguments.Parse(["--primary=localhost:11111", "--silo-port=11112", "--gateway-port=30001"], Env(("HOME", "/h")));
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 11111), primary.Primary);
        Assert.Equal(11112, primary.SiloPort);
    }

    [Fact]
    public void Kubernetes_requires_postgres()
    {
        var e = Assert.Throws<UsageException>(() => SiloArguments.Parse([], Env(("KUBERNETES_SERVICE_HOST", "10.0.0.1"), ("HOME", "/h"))));
        Assert.Contains("--postgres", e.Message);
        var k = SiloArguments.Parse(["--postgres", "Host=pg"], Env(("KUBERNETES_SERVICE_HOST", "10.0.0.1"), ("HOME", "/h")));
        Assert.True(k.Kubernetes);
        Assert.True(k.ToHostOptions().Kubernetes);
        Assert.Throws<ArgumentException>(() => SiloHost.Build(new SiloHostOptions { Kubernetes = true }));
        // A pod's ports are reachable from the pod network: without TLS the silo refuses to serve there.
        var noTls = Assert.Throws<ArgumentException>(() => SiloHost.Build(new SiloHostOptions
        {
            Kubernetes = true, PostgresConnectionString = "Host=127.0.0.1;Username=orleans", SiloPort = 11200, GatewayPort = 30200,
        }));
        Assert.Contains("--tls-cert", noTls.Message);

        // In a pod with the cluster's certificates: Kubernetes hosting binds all interfaces and advertises the pod IP
        // (here: POD_IP unset, so the address of the pod name, i.e. this machine); the ports are the flags'. Built, not started.
        using var certificates = new Infrastructure.TestCertificates();
        var silo = certificates.Issue("silo");
        using var host = SiloHost.Build(new SiloHostOptions
        {
            Kubernetes = true, PostgresConnectionString = "Host=127.0.0.1;Username=orleans", SiloPort = 11200, GatewayPort = 30200,
            Tls = Magneton.Silo.ClusterCertificates.Load(silo.Cert, silo.Key, certificates.CaPem),
        });
        var endpoints = host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<EndpointOptions>>().Value;
        Assert.Equal(new IPEndPoint(IPAddress.Any, 11200), endpoints.SiloListeningEndpoint);
        Assert.Equal(new IPEndPoint(IPAddress.Any, 30200), endpoints.GatewayListeningEndpoint);
        Assert.Equal(11200, endpoints.SiloPort);
    }
}

/// <summary>The tests that start silo processes run one after another: each process takes a core while starting.</summary>
[CollectionDefinition(Name)]
public sealed class SiloProcessCollection
{
    public const string Name = "silo processes";
}
