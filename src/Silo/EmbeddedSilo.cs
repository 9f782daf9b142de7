using System.Net;
using System.Net.Sockets;
using Magneton.Core.Bundles;
using Magneton.Core.Runs;
using Magneton.Grains;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Magneton.Silo;

/// <summary>
/// A single Orleans silo hosted in this process (localhost clustering, no gateway), with Magneton's grains.
/// The CLI uses it by default; callers get grains through <see cref="Grains"/> without a separate client.
/// Logging goes to stderr at Warning and above (or where the caller's logging sends it), so stdout stays free for JSON.
/// </summary>
public sealed class EmbeddedSilo : IAsyncDisposable
{
    readonly IHost _host;
    int _stopped;

    EmbeddedSilo(IHost host, int siloPort)
    {
        _host = host;
        SiloPort = siloPort;
    }

    public IServiceProvider Services => _host.Services;
    public IGrainFactory Grains => _host.Services.GetRequiredService<IGrainFactory>();
    public IClusterClient Client => _host.Services.GetRequiredService<IClusterClient>();
    public int SiloPort { get; }

    /// <summary>
    /// Hands the silo a run this process already built from <paramref name="source"/>'s bundle: the job that compares
    /// it finds it in the silo's run cache instead of reading the bundle again.
    /// </summary>
    public void Keep(RunRef source, Run run) => Services.GetRequiredService<RunCache>().Keep(source, run);

    /// <summary>
    /// Starts the silo on a free loopback port (found by binding port 0; retried with another port if it
    /// was taken meanwhile), so several embedded runs on one machine do not collide.
    /// </summary>
    /// <param name="logging">replaces the default logging (stderr from Warning up); the CLI sends it to a log file</param>
    public static async Task<EmbeddedSilo> StartAsync(Action<ILoggingBuilder>? logging = null, CancellationToken ct = default)
    {
        const int attempts = 3;
        for (int attempt = 1; ; attempt++)
        {
            int port = FreeLoopbackPort();
            var host = Build(port, logging);
            try
            {
                await host.StartAsync(ct).ConfigureAwait(false);
                return new EmbeddedSilo(host, port);
            }
            catch (Exception e) when (attempt < attempts && !ct.IsCancellationRequested && IsAddressInUse(e))
            {
                await DisposeHostAsync(host).ConfigureAwait(false);
            }
            catch
            {
                await DisposeHostAsync(host).ConfigureAwait(false);
                throw;
            }
        }
    }

    static IHost Build(int siloPort, Action<ILoggingBuilder>? logging)
    {
        // DisableDefaults: no appsettings, environment or command-line configuration to read, and no default
        // console logger on stdout.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        if (logging is not null) logging(builder.Logging);
        else
        {
            builder.Logging.ClearProviders();
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.IncludeScopes = false; });
            builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        }
        // Known-noisy start-up warnings of a single embedded silo: the spurious watchdog warning (see
        // toolchain-notes.md) and "Silo not running with ServerGC" (the CLI runs workstation GC on purpose).
        builder.Logging.AddFilter("Orleans.Runtime.Watchdog", LogLevel.Error);
        builder.Logging.AddFilter("Orleans.Runtime.Silo", LogLevel.Error);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.Services.AddSingleton(InputLimits.Current); // the command's --max-trace-* reach the grains' reads
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(siloPort: siloPort, gatewayPort: 0,
                serviceId: "magneton-embedded", clusterId: $"magneton-embedded-{Environment.ProcessId}-{siloPort}");
            silo.AddMagneton();
        });
        return builder.Build();
    }

    static int FreeLoopbackPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    static bool IsAddressInUse(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse }) return true;
            if (x is AggregateException agg && agg.InnerExceptions.Any(IsAddressInUse)) return true;
        }
        return false;
    }

    static async Task DisposeHostAsync(IHost host)
    {
        try { await host.StopAsync(new CancellationToken(true)).ConfigureAwait(false); } catch { /* failed start */ }
        if (host is IAsyncDisposable ad) await ad.DisposeAsync().ConfigureAwait(false); else host.Dispose();
    }

    /// <summary>Stops the silo. With <paramref name="fast"/> it does not wait for a graceful shutdown.</summary>
    public async Task StopAsync(bool fast = false)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1) return;
        using var cts = new CancellationTokenSource(fast ? TimeSpan.Zero : TimeSpan.FromSeconds(5));
        try { await _host.StopAsync(cts.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (_host is IAsyncDisposable ad) await ad.DisposeAsync().ConfigureAwait(false); else _host.Dispose();
    }
}
