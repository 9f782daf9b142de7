using Magneton.Grains;
using Magneton.Silo;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using Xunit;

namespace Magneton.Tests.Grains;

/// <summary>One in-process Orleans test cluster (one silo and a client that talks to it through the gateway).</summary>
public class ClusterFixture : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public IClusterClient Client => Cluster.Client;

    /// <summary>The silo's own services: the caches and counters the grains use.</summary>
    public IServiceProvider SiloServices => Cluster.Silos[0].ServiceProvider;
    public MagnetonCounters Counters => SiloServices.GetRequiredService<MagnetonCounters>();

    public async Task InitializeAsync()
    {
        var b = new InProcessTestClusterBuilder(initialSilosCount: 1);
        b.ConfigureSilo((_, silo) =>
        {
            silo.AddMagneton();
            ConfigureSilo(silo);
        });
        b.ConfigureClient(client => client.AddMagnetonClient());
        Cluster = b.Build();
        await Cluster.DeployAsync();
    }

    /// <summary>Options of this cluster's own (e.g. a short worker timeout), set per cluster, never process-wide.</summary>
    protected virtual void ConfigureSilo(ISiloBuilder silo) { }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "Orleans cluster";
}
