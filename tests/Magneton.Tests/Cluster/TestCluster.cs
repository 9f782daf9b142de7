using Magneton.Grains;
using Magneton.Silo;
using Magneton.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Magneton.Tests.Cluster;

/// <summary>
/// An in-process Orleans cluster of several silos on one blob store (Azurite), each silo with its own download
/// cache, as on separate machines. Segment workers pass through <see cref="Gate"/>, which tests may close to hold
/// a job at a known point.
/// </summary>
public sealed class TestCluster : IAsyncDisposable
{
    readonly string _cacheRoot;
    readonly TestCertificates? _certificates;

    TestCluster(InProcessTestCluster cluster, HoldingGate gate, string container, string cacheRoot, TestCertificates? certificates)
    {
        _cacheRoot = cacheRoot;
        _certificates = certificates;
        Cluster = cluster;
        Gate = gate;
        Container = container;
    }

    public InProcessTestCluster Cluster { get; }
    public HoldingGate Gate { get; }
    public string Container { get; }
    public IClusterClient Client => Cluster.Client;
    /// <summary>Where the silos keep their download caches, one directory each.</summary>
    public string CacheRoot => _cacheRoot;

    public static async Task<TestCluster> StartAsync(string blobConnection, int silos = 3, string? container = null,
        HoldingGate? gate = null, Action<ISiloBuilder>? configure = null, bool tls = false)
    {
        // With TLS: mutual TLS between the silos and to the client (a submitter), as `magneton silo --tls-*` runs it.
        var certificates = tls ? new TestCertificates() : null;
        ClusterCertificates? Load(Pem? pem) => pem is null ? null : ClusterCertificates.Load(pem.Cert, pem.Key, certificates!.CaPem);
        var siloTls = Load(certificates?.Issue("silo"));
        var clientTls = Load(certificates?.Issue("submitter"));
        gate ??= new HoldingGate();
        container ??= AzuriteFixture.NewContainerName("c");
        var cacheRoot = Path.Combine(Path.GetTempPath(), "magneton-cluster-tests", Guid.NewGuid().ToString("N"));
        var b = new InProcessTestClusterBuilder(initialSilosCount: (short)silos);
        b.ConfigureSilo((options, silo) =>
        {
            silo.AddMagneton(new MagnetonStorageOptions
            {
                BlobConnectionString = blobConnection,
                Container = container,
                CacheDirectory = Path.Combine(cacheRoot, options.SiloName),
            });
            silo.Services.AddSingleton<IMatchingStepGate>(gate);
            // One worker per segment, so that the gate, which counts workers, counts segments (SegmentWorkerTests
            // covers workers of several segments).
            silo.Services.Configure<MatchingJobOptions>(o => o.SegmentWorkers = 100_000);
            configure?.Invoke(silo);
            if (siloTls is not null) silo.UseMagnetonTls(siloTls, options.SiloPort);
        });
        b.ConfigureClient(client =>
        {
            client.AddMagnetonClient();
            if (clientTls is not null) client.UseMagnetonTls(clientTls);
        });
        var cluster = b.Build();
        await cluster.DeployAsync();
        return new TestCluster(cluster, gate, container, cacheRoot, certificates);
    }

    /// <summary>Each live silo's counters, by silo address.</summary>
    public IReadOnlyDictionary<string, MagnetonCounters> Counters() =>
        Cluster.Silos.Where(s => s.IsActive)
            .ToDictionary(s => s.SiloAddress.ToString(), s => s.ServiceProvider.GetRequiredService<MagnetonCounters>());

    public InProcessSiloHandle SiloOf(string runtimeIdentity) =>
        Cluster.Silos.Single(s => s.IsActive && s.SiloAddress.ToString() == runtimeIdentity);

    public async ValueTask DisposeAsync()
    {
        Gate.Open();
        await Cluster.DisposeAsync();
        _certificates?.Dispose();
        try { Directory.Delete(_cacheRoot, recursive: true); } catch (IOException) { }
    }
}

/// <summary>
/// Lets the first <c>allow</c> segment workers through (or those <see cref="PassOnly"/> names) and holds the rest
/// until <see cref="Open"/>, or until a held worker's call is cancelled (<see cref="Cancelled"/> counts those).
/// Open by default.
/// </summary>
public sealed class HoldingGate : IMatchingStepGate
{
    readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
    volatile Func<string, bool>? _pass;
    int _allow = int.MaxValue, _passed, _held, _cancelled;

    public int Passed => Volatile.Read(ref _passed);
    public int Held => Volatile.Read(ref _held);
    public int Cancelled => Volatile.Read(ref _cancelled);

    public void HoldAfter(int allow) => Volatile.Write(ref _allow, allow);
    /// <summary>Only the workers whose grain key (<c>jobId/worker</c>) <paramref name="pass"/> accepts go through.</summary>
    public void PassOnly(Func<string, bool> pass) => _pass = pass;
    public void Open() => _open.TrySetResult();

    public async Task BeforeSegmentAsync(string segmentKey, CancellationToken cancellationToken)
    {
        bool passes = _pass is { } pass ? pass(segmentKey) : Interlocked.Increment(ref _passed) <= Volatile.Read(ref _allow);
        if (_pass is not null && passes) Interlocked.Increment(ref _passed);
        if (passes || _open.Task.IsCompleted) return;
        Interlocked.Increment(ref _held);
        try
        {
            await _open.Task.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Interlocked.Increment(ref _cancelled);
            throw;
        }
    }
}
