using System.Diagnostics;
using Magneton.Grains;
using Magneton.Silo;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Orleans.TestingHost;
using Xunit;

namespace Magneton.Tests.Telemetry;

/// <summary>
/// Magneton's OpenTelemetry wiring on a real (in-process) Orleans cluster: the silo's tracer provider, set up by
/// <see cref="MagnetonTelemetryExtensions.AddMagnetonTelemetry(Orleans.Hosting.ISiloBuilder, TelemetryExport, Action{TracerProviderBuilder}?, Action{MeterProviderBuilder}?)"/>
/// with the in-memory exporter, records the client's and the silo's grain-call spans in one trace.
/// </summary>
public sealed class TelemetryFixture : IAsyncLifetime
{
    public List<Activity> Spans { get; } = [];
    public List<Metric> Metrics { get; } = [];
    public InProcessTestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var b = new InProcessTestClusterBuilder(initialSilosCount: 1);
        b.ConfigureSilo((_, silo) =>
        {
            silo.AddMagneton();
            silo.AddMagnetonTelemetry(TelemetryExport.None, t => t.AddInMemoryExporter(Spans), m => m.AddInMemoryExporter(Metrics));
        });
        b.ConfigureClient(client => client.AddMagnetonClient().AddMagnetonActivityPropagation());
        Cluster = b.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    /// <summary>The recorded spans of one trace (the exporter's list is appended to from other threads).</summary>
    public List<Activity> Trace(ActivityTraceId id)
    {
        lock (Spans) return Spans.Where(s => s.TraceId == id).ToList();
    }
}

public sealed class TelemetryTests(TelemetryFixture fx) : IClassFixture<TelemetryFixture>
{
    [Fact]
    public async Task Grain_calls_are_traced_under_the_callers_span_across_client_and_silo()
    {
        string runId = "telemetry-" + Guid.NewGuid().ToString("N")[..8];
        ActivityTraceId traceId;
        ActivitySpanId rootSpan;
        // A root span from Magneton's own source (which the silo's provider listens to), as the CLI's job span would be.
        using (var root = MagnetonTelemetry.Source.StartActivity("test-root", ActivityKind.Internal))
        {
            Assert.NotNull(root); // the provider listens to "Magneton"
            traceId = root.TraceId;
            rootSpan = root.SpanId;
            // A run that was never ingested: the call fails in the grain, which is still a traced call.
            await Assert.ThrowsAnyAsync<Exception>(() => fx.Cluster.Client.GetGrain<IRunGrain>(runId).GetSummary());
        }

        List<Activity> trace = [];
        Activity? clientCall = null, serverCall = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            trace = fx.Trace(traceId);
            clientCall = trace.FirstOrDefault(s => s.Kind == ActivityKind.Client && s.DisplayName.Contains("GetSummary"));
            serverCall = trace.FirstOrDefault(s => s.Kind == ActivityKind.Server && s.DisplayName.Contains("GetSummary"));
            if (clientCall is not null && serverCall is not null) break;
            await Task.Delay(50);
        }
        string seen = string.Join("; ", trace.Select(s => $"{s.Source.Name}:{s.DisplayName}:{s.Kind}"));
        Assert.True(clientCall is not null, "no client span of IRunGrain.GetSummary in the trace: " + seen);
        Assert.True(serverCall is not null, "no server span of IRunGrain.GetSummary in the trace: " + seen);

        Assert.StartsWith("Microsoft.Orleans", clientCall.Source.Name);
        Assert.StartsWith("Microsoft.Orleans", serverCall.Source.Name);
        Assert.Equal(rootSpan, clientCall.ParentSpanId);            // the caller's span is the parent...
        Assert.Equal(clientCall.SpanId, serverCall.ParentSpanId);   // ...and the context crossed the wire to the silo
        Assert.Equal(traceId, serverCall.TraceId);
        Assert.Equal(ActivityStatusCode.Error, serverCall.Status);  // the grain threw
    }

    [Fact]
    public async Task Orleans_metrics_reach_the_meter_provider()
    {
        await fx.Cluster.Client.GetGrain<Orleans.Runtime.IManagementGrain>(0).GetHosts();
        var provider = fx.Cluster.Silos[0].ServiceProvider.GetRequiredService<MeterProvider>();
        Assert.True(provider.ForceFlush(10_000));
        List<string> names;
        lock (fx.Metrics) names = fx.Metrics.Where(m => m.MeterName == MagnetonTelemetryExtensions.OrleansMeterName).Select(m => m.Name).ToList();
        Assert.NotEmpty(names);
        Assert.Contains(names, n => n.StartsWith("orleans-", StringComparison.Ordinal));
    }

    [Fact]
    public void Export_choice_and_registration()
    {
        Assert.True(MagnetonTelemetryExtensions.TryParseExport("OTLP", out var e) && e == TelemetryExport.Otlp);
        Assert.True(MagnetonTelemetryExtensions.TryParseExport("console", out e) && e == TelemetryExport.Console);
        Assert.True(MagnetonTelemetryExtensions.TryParseExport("none", out e) && e == TelemetryExport.None);
        Assert.False(MagnetonTelemetryExtensions.TryParseExport("zipkin", out _));

        // None and no callbacks: nothing registered, nothing listens.
        var none = new ServiceCollection().AddMagnetonTelemetry(MagnetonTelemetryExtensions.CliServiceName, TelemetryExport.None);
        Assert.Empty(none);

        // OTLP: providers are built (the endpoint comes from OTEL_EXPORTER_OTLP_*; nothing is sent without spans).
        using var sp = new ServiceCollection().AddLogging()
            .AddMagnetonTelemetry(MagnetonTelemetryExtensions.CliServiceName, TelemetryExport.Otlp).BuildServiceProvider();
        Assert.NotNull(sp.GetService<TracerProvider>());
        Assert.NotNull(sp.GetService<MeterProvider>());
    }

    [Fact]
    public void Activity_propagation_is_added_once()
    {
        var services = new ServiceCollection();
        var silo = new FakeSiloBuilder(services);
        silo.AddMagnetonActivityPropagation();
        int count = services.Count;
        silo.AddMagnetonActivityPropagation();
        silo.AddMagnetonTelemetry(TelemetryExport.None);
        Assert.Equal(count, services.Count);
        Assert.Contains(services, d => d.ImplementationType?.Name == "ActivityPropagationIncomingGrainCallFilter");
    }

    sealed class FakeSiloBuilder(IServiceCollection services) : Orleans.Hosting.ISiloBuilder
    {
        public IServiceCollection Services { get; } = services;
        public Microsoft.Extensions.Configuration.IConfiguration Configuration { get; } =
            new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build();
    }
}
