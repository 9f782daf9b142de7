using Magneton.Silo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Orleans.Configuration;

namespace Magneton.Client;

/// <summary>
/// A client connection to a running Magneton cluster (<c>--cluster host:port</c>). It gives up within seconds
/// when no gateway answers, with one line naming the address, instead of Orleans' minutes of retrying.
/// The cluster and service ids come from MAGNETON_CLUSTER_ID / MAGNETON_SERVICE_ID ("magneton" by default),
/// matching <c>magneton silo</c>'s defaults.
/// </summary>
public sealed class ClusterConnection : IAsyncDisposable
{
    /// <summary>How long to keep trying to reach a gateway before giving up.</summary>
    public static TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    readonly IHost _host;

    ClusterConnection(IHost host, string address)
    {
        _host = host;
        Address = address;
    }

    public string Address { get; }
    public IClusterClient Client => _host.Services.GetRequiredService<IClusterClient>();

    public static async Task<ClusterConnection> ConnectAsync(string address, CancellationToken ct = default)
    {
        var gateways = await ClusterEndpoints.ResolveAsync(address, ct).ConfigureAwait(false);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Error);
        // Orleans logs every failed connection attempt; the one-line error below says it better.
        builder.Logging.AddFilter("Orleans", LogLevel.None);
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        var deadline = DateTime.UtcNow + ConnectTimeout;
        Exception? last = null;
        builder.UseOrleansClient(client =>
        {
            client.UseStaticClustering(gateways);
            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = Environment.GetEnvironmentVariable("MAGNETON_CLUSTER_ID") ?? "magneton";
                o.ServiceId = Environment.GetEnvironmentVariable("MAGNETON_SERVICE_ID") ?? "magneton";
            });
            client.AddMagnetonClient();
            if (TlsArguments.Current is { } tls) client.UseMagnetonTls(tls);
            // OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set: the CLI's calls then open the job's trace.
            client.AddMagnetonTelemetry(MagnetonTelemetryExtensions.DefaultExport());
            client.UseConnectionRetryFilter(async (e, token) =>
            {
                last = e;
                if (DateTime.UtcNow >= deadline) return false;
                await Task.Delay(250, token).ConfigureAwait(false);
                return true;
            });
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync(ct).ConfigureAwait(false);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            host.Dispose();
            var reason = Program.OneLine((last ?? e).GetBaseException().Message);
            throw new ClusterUnavailableException(
                $"--cluster {address}: no Magneton cluster answered within {ConnectTimeout.TotalSeconds:0} s ({reason}); is `magneton silo` running there?");
        }
        return new ClusterConnection(host, address);
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await _host.StopAsync(cts.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
        _host.Dispose();
    }
}

/// <summary>The cluster named by --cluster cannot be reached: one line, exit code 2.</summary>
public sealed class ClusterUnavailableException(string message) : Exception(message);
