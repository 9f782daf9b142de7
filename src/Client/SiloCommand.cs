using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using System.Net.Sockets;
using Magneton.Silo;
using Microsoft.Extensions.Hosting;

namespace Magneton.Client;

/// <summary>
/// <c>magneton silo</c>: runs a silo host process until SIGTERM/SIGINT (or <paramref name="ct"/> in RunAsync),
/// then stops it gracefully and exits 0. The host is built by <see cref="SiloHost.Build"/>; this command only
/// parses the arguments, handles the signals and prints the ready line.
/// </summary>
public static class SiloCommand
{
    internal static Command Definition(TextWriter stdout, TextWriter stderr)
    {
        var definition = new SiloArguments.Definition();
        // The silo's reads of uploaded and named bundles: these limits, over the MAGNETON_MAX_* variables.
        var limits = new InputLimitOptionSet();
        limits.AddTo(definition.Command);
        definition.Command.SetAction(limits.Scoped((pr, ct) => RunAsync(definition.Read(pr, Environment.GetEnvironmentVariable), stdout, stderr, ct)));
        return definition.Command;
    }

    public static async Task<int> RunAsync(SiloArguments parsed, TextWriter stdout, TextWriter stderr, CancellationToken ct = default)
    {
        var options = parsed.ToHostOptions() with { Tls = TlsArguments.Current };
        if (options.Storage?.Directory is { } dir)
        {
            try { Directory.CreateDirectory(dir); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"--storage-dir: cannot create {dir}: {Program.OneLine(e.Message)}");
            }
        }

        using var stop = new StopSignals(ct);

        IHost host;
        try
        {
            host = SiloHost.Build(options);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(Program.OneLine(e.Message));
        }

        try
        {
            try
            {
                await host.StartAsync(stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stop.Token.IsCancellationRequested)
            {
                return Program.Ok; // stopped by a signal before it was up
            }
            catch (Exception e) when (StartFailure(e, parsed) is { } message)
            {
                throw new UsageException(message);
            }

            await stderr.WriteLineAsync(options.Tls is { } tls
                ? $"magneton silo: mutual TLS: certificate {tls.Own.Subject}, clients and silos must be signed by {tls.Authority[0].Subject}"
                : "magneton silo: no TLS certificates (--tls-cert, --tls-key, --tls-ca): listening on loopback only; every local client may submit, run as a worker and read")
                .ConfigureAwait(false);
            var info = SiloHost.Describe(host);
            await stdout.WriteLineAsync(info.ReadyLine).ConfigureAwait(false);
            await stdout.FlushAsync(CancellationToken.None).ConfigureAwait(false);

            try { await Task.Delay(Timeout.Infinite, stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { }

            // Graceful: the silo leaves the membership (others stop probing it) and hands its grains over.
            // HostOptions.ShutdownTimeout (10 s) bounds it; past that Orleans stops without waiting.
            try { await host.StopAsync(CancellationToken.None).ConfigureAwait(false); }
            catch (OperationCanceledException) { }
            // What this silo did over its life: how work spread over a cluster, at a glance.
            var c = host.Services.GetRequiredService<Magneton.Grains.MagnetonCounters>();
            await stdout.WriteLineAsync($"magneton silo: stopped silo={info.Silo} ingested={c.Ingestions} sessions={c.SessionsPrepared} "
                + $"segments={c.SegmentsMatched} diagnoses={c.Diagnoses} jobs={c.Jobs}").ConfigureAwait(false);
            return Program.Ok;
        }
        finally
        {
            if (host is IAsyncDisposable ad) await ad.DisposeAsync().ConfigureAwait(false); else host.Dispose();
        }
    }

    /// <summary>A start failure caused by the command line or the environment (one line, exit 2), or null.</summary>
    static string? StartFailure(Exception e, SiloArguments args)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            if (x is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse })
                return $"--silo-port/--gateway-port: port {args.SiloPort} or {args.GatewayPort} is already in use on {args.Listen?.ToString() ?? "127.0.0.1"}";
            if (x is SocketException { SocketErrorCode: SocketError.AddressNotAvailable })
                return $"--listen: {args.Listen} is not an address of this machine";
            if (x is Npgsql.NpgsqlException pg)
                return $"--postgres: {Program.OneLine(pg.Message)}";
            if (x is AggregateException agg)
                foreach (var inner in agg.InnerExceptions)
                    if (StartFailure(inner, args) is { } m) return m;
        }
        return null;
    }
}
