using Magneton.Grains;
using Magneton.Silo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;

namespace Magneton.Client;

/// <summary>
/// A client connection to a running Magneton cluster (<c>--cluster host:port</c>). It gives up within seconds
/// when no gateway answers, with one line naming the address, instead of Orleans' minutes of retrying.
/// The cluster and service ids come from MAGNETON_CLUSTER_ID / MAGNETON_SERVICE_ID ("magneton" by default),
/// matching <c>magneton silo</c>'s defaults.
/// Grain calls go through <see cref="CallAsync"/>: each is short (<see cref="MagnetonSiloExtensions.ClientCallTimeout"/>,
/// long work is polled), a call that fails because the cluster moved is retried, and after a few seconds of
/// failures the connection is dropped and made again, so a client rides out the loss of its gateway or of every
/// silo (restarted on the same addresses) and resubscribes to its job by asking again.
/// </summary>
public sealed class ClusterConnection : IAsyncDisposable
{
    /// <summary>How long to keep trying to reach a gateway before giving up.</summary>
    public static TimeSpan ConnectTimeout { get; } = TimeSpan.FromSeconds(5);

    /// <summary>Failing calls in a row for this long make the client connect again (new gateway connections).</summary>
    static readonly TimeSpan ReconnectAfter = TimeSpan.FromSeconds(3);

    readonly ClusterTarget? _target;
    IHost? _host;
    IClusterClient _client;

    ClusterConnection(IHost? host, IClusterClient client, ClusterTarget? target)
    {
        _host = host;
        _client = client;
        _target = target;
    }

    /// <summary>The --cluster value; null for a connection over an embedded silo's client.</summary>
    public string? Address => _target?.Address;

    /// <summary>The current client: it changes when the connection is made again, so take grains from it per call.</summary>
    public IClusterClient Client => _client;

    /// <summary>How long calls may keep failing (or a job report a problem) before the client gives up with one line.</summary>
    public TimeSpan UnreachableFor { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Calls through a client this process already has (an embedded silo's, a test cluster's): retried, never reconnected.</summary>
    public static ClusterConnection Over(IClusterClient client) => new(null, client, null);

    public static Task<ClusterConnection> ConnectAsync(string address, CancellationToken ct = default) =>
        ConnectAsync(new ClusterTarget(address), ct);

    public static async Task<ClusterConnection> ConnectAsync(ClusterTarget target, CancellationToken ct = default)
    {
        var host = await StartHostAsync(target, ct).ConfigureAwait(false);
        return new ClusterConnection(host, host.Services.GetRequiredService<IClusterClient>(), target);
    }

    static async Task<IHost> StartHostAsync(ClusterTarget target, CancellationToken ct)
    {
        var address = target.Address;
        var gateways = await ClusterEndpoints.ResolveAsync(address, ct).ConfigureAwait(false);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        // Orleans logs every failed connection attempt and the host its failed start: to the run's log file; the
        // one-line error below says it better.
        CliLogging.Configure(builder.Logging);
        // Ctrl-C and SIGTERM belong to the command (it ends at once); the host must not swallow them and stop itself.
        builder.Services.AddSingleton<IHostLifetime, CommandLifetime>();
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
        return host;
    }

    /// <summary>
    /// One grain call, retried while it fails because the cluster moved (a silo or gateway lost, a call timed out,
    /// storage unavailable). Cancelling <paramref name="ct"/> ends the wait at once, even for a call in flight.
    /// Gives up with <see cref="ClusterUnavailableException"/> after <see cref="UnreachableFor"/> of failures.
    /// </summary>
    public async Task<T> CallAsync<T>(Func<IClusterClient, Task<T>> call, CancellationToken ct)
    {
        DateTime? firstFailure = null;
        var lastConnect = DateTime.UtcNow;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                return await call(_client).WaitAsync(ct).ConfigureAwait(false);
            }
            // A cancellation this client did not ask for (a storage client's timeout inside the silo, a call Orleans gave
            // up on while a silo was lost) is the cluster moving, not an answer: retried like the rest.
            catch (Exception e) when ((Transient.Is(e) || e is OperationCanceledException) && e is not MagnetonUnavailableException { RunId: not null }
                                      && !ct.IsCancellationRequested)
            {
                var now = DateTime.UtcNow;
                firstFailure ??= now;
                if (now - firstFailure > UnreachableFor)
                {
                    if (e is MagnetonUnavailableException) throw; // the cluster answers: its own one line says what is wrong
                    throw new ClusterUnavailableException(
                        $"--cluster {Address ?? "(embedded)"}: the cluster stopped answering for {UnreachableFor.TotalSeconds:0} s ({Program.OneLine(e.GetBaseException().Message)})");
                }
                if (_target is not null && now - lastConnect >= ReconnectAfter && e is not MagnetonUnavailableException)
                {
                    await ReconnectAsync(ct).ConfigureAwait(false);
                    lastConnect = DateTime.UtcNow;
                }
                await Task.Delay(500, ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Drops the gateway connections and connects again; leaves the old client in place if no gateway answers yet.</summary>
    async Task ReconnectAsync(CancellationToken ct)
    {
        IHost fresh;
        try
        {
            fresh = await StartHostAsync(_target!, ct).ConfigureAwait(false);
        }
        catch (ClusterUnavailableException)
        {
            return; // still down: the next failing call tries again
        }
        var old = _host;
        _host = fresh;
        _client = fresh.Services.GetRequiredService<IClusterClient>();
        if (old is not null) await StopHostAsync(old).ConfigureAwait(false);
    }

    static async Task StopHostAsync(IHost host)
    {
        // Short: a gateway that is gone will not answer a goodbye, and a stopping client must end within a second.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try { await host.StopAsync(cts.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
        host.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is { } host) await StopHostAsync(host).ConfigureAwait(false);
        _host = null;
    }

    /// <summary>A host lifetime that leaves the process's signals alone (see <see cref="StopSignals"/>).</summary>
    sealed class CommandLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>The cluster named by --cluster cannot be reached: one line, exit code 2.</summary>
public sealed class ClusterUnavailableException(string message) : Exception(message);
