using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Reflection;
using Magneton.Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Npgsql;
using Orleans.Configuration;
using Orleans.Hosting;
using Orleans.Runtime;

namespace Magneton.Silo;

/// <summary>
/// What a silo host process (<c>magneton silo</c>) or a test's in-process silo needs to know. Without
/// <see cref="PostgresConnectionString"/> the silo uses Orleans development clustering: one silo is the
/// primary (it keeps the membership table in memory) and the others name it in <see cref="Primary"/>.
/// </summary>
public sealed record SiloHostOptions
{
    public const int DefaultSiloPort = 11111;
    public const int DefaultGatewayPort = 30000;
    public const string DefaultClusterId = "magneton";
    public const string DefaultServiceId = "magneton";

    /// <summary>Silo-to-silo port.</summary>
    public int SiloPort { get; init; } = DefaultSiloPort;
    /// <summary>Port clients (the CLI with --cluster) connect to.</summary>
    public int GatewayPort { get; init; } = DefaultGatewayPort;
    /// <summary>Development clustering: the primary silo's silo-port endpoint; null: this silo is the primary.</summary>
    public IPEndPoint? Primary { get; init; }
    /// <summary>
    /// The address the ports bind to, also the address advertised to the cluster. Null: loopback (127.0.0.1),
    /// or in Kubernetes all interfaces with the pod IP advertised. 0.0.0.0 binds all interfaces and advertises
    /// POD_IP if set, else the first non-loopback IPv4 address of the machine.
    /// </summary>
    public IPAddress? Listen { get; init; }
    public string ClusterId { get; init; } = DefaultClusterId;
    public string ServiceId { get; init; } = DefaultServiceId;
    /// <summary>Bundle, report and grain-state storage (null: memory, no bundle store).</summary>
    public MagnetonStorageOptions? Storage { get; init; }
    /// <summary>Npgsql connection string: ADO.NET membership on PostgreSQL instead of development clustering.</summary>
    public string? PostgresConnectionString { get; init; }
    /// <summary>With PostgreSQL: create the membership schema at start if it is missing (idempotent).</summary>
    public bool EnsurePostgresSchema { get; init; } = true;
    /// <summary>Orleans Kubernetes hosting (pod reconciliation); default: KUBERNETES_SERVICE_HOST is set. Needs PostgreSQL.</summary>
    public bool Kubernetes { get; init; } = SiloHost.InKubernetes;
    public TelemetryExport Telemetry { get; init; } = TelemetryExport.None;
    /// <summary>Log level of the single-line log on stderr.</summary>
    public LogLevel MinimumLogLevel { get; init; } = LogLevel.Information;
    /// <summary>How long a graceful stop may take before Orleans stops without waiting.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>How long a GPU worker may stay silent before its capture job is queued again (null: CaptureSchedulerOptions.DefaultWorkerTimeout, 15 s).</summary>
    public TimeSpan? WorkerTimeout { get; init; }
    /// <summary>Unfinished comparisons and campaigns one client may have started (null: ClientWorkOptions.DefaultMaxInFlight, 32).</summary>
    public int? MaxWorkPerClient { get; init; }
    /// <summary>
    /// Mutual TLS with the cluster's CA (<see cref="ClusterTls"/>); null: no TLS, and the silo may bind loopback only.
    /// </summary>
    public ClusterCertificates? Tls { get; init; }
    /// <summary>Runs last on the silo builder (tests: extra services, OpenTelemetry in-memory exporter...).</summary>
    public Action<ISiloBuilder>? ConfigureSilo { get; init; }
}

/// <summary>Where a started silo is, for the ready line and for tests.</summary>
public sealed record SiloHostInfo(IPEndPoint Silo, IPEndPoint? Gateway, string ClusterId, string ServiceId, string Storage)
{
    /// <summary>The one line <c>magneton silo</c> prints on stdout once the silo is active.</summary>
    public string ReadyLine =>
        $"{SiloHost.ReadyPrefix} silo={Silo} gateway={(Gateway is null ? "none" : Gateway.ToString())} cluster={ClusterId} storage={Storage}";
}

/// <summary>Builds the host of a Magneton silo process: clustering, storage, telemetry and logging.</summary>
public static class SiloHost
{
    public const string ReadyPrefix = "magneton silo: ready";
    public const string NpgsqlInvariant = "Npgsql";

    /// <summary>True inside a Kubernetes pod (KUBERNETES_SERVICE_HOST is set).</summary>
    public static bool InKubernetes => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("KUBERNETES_SERVICE_HOST"));

    /// <summary>
    /// The silo host, not started. Start it with <c>StartAsync</c>; it handles no signals itself (the caller
    /// does). Throws <see cref="ArgumentException"/> for options that cannot work together.
    /// </summary>
    public static IHost Build(SiloHostOptions options)
    {
        Validate(options);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });

        // Logging as the embedded silo does it (single line, stderr, stdout kept for the ready line), but at
        // Information: a silo process's log is its record of joins, deaths and failures.
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(options.MinimumLogLevel);
        // The watchdog warns spuriously at start-up (toolchain-notes.md).
        builder.Logging.AddFilter("Orleans.Runtime.Watchdog", LogLevel.Error);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.IncludeScopes = false;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.UseUtcTimestamp = false;
        });
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout);
        // No console lifetime: `magneton silo` handles SIGTERM/SIGINT itself, and a silo built inside a test
        // process must not take over that process's signals.
        builder.Services.AddSingleton<IHostLifetime, CallerManagedLifetime>();
        // The limits of the command that builds the host (`magneton silo --max-trace-*`), else the environment's.
        builder.Services.AddSingleton(Magneton.Core.Bundles.InputLimits.Current);

        if (options.PostgresConnectionString is { } pg && options.EnsurePostgresSchema)
        {
            // Registered before UseOrleans: hosted services start in order, so the schema exists before the
            // silo's membership table is opened.
            builder.Services.AddHostedService(_ => new PostgresSchemaInitializer(pg));
        }

        builder.UseOrleans(silo =>
        {
            silo.Configure<ClusterOptions>(c =>
            {
                c.ClusterId = options.ClusterId;
                c.ServiceId = options.ServiceId;
            });
            var advertised = ConfigureEndpoints(silo, options);

            if (options.PostgresConnectionString is { } connectionString)
            {
                // Membership on PostgreSQL: PostgreSQL 15 is already on the project machines, and a SQL table is a
                // durable membership store that every silo (and client) shares, with no further service such as
                // Redis to install and run. The schema comes from Sql/*.sql (EnsurePostgresSchemaAsync).
                silo.UseAdoNetClustering(o =>
                {
                    o.Invariant = NpgsqlInvariant;
                    o.ConnectionString = connectionString;
                });
            }
            else
            {
                silo.UseDevelopmentClustering(options.Primary ?? new IPEndPoint(advertised ?? IPAddress.Loopback, options.SiloPort));
            }

            // After ClusterOptions: ORLEANS_CLUSTER_ID / ORLEANS_SERVICE_ID from the pod spec win over the flags.
            if (options.Kubernetes) silo.UseKubernetesHosting();

            silo.AddMagnetonTelemetry(options.Telemetry);
            silo.AddMagneton(options.Storage);
            if (options.Tls is { } tls) silo.UseMagnetonTls(tls, options.SiloPort);
            if (options.WorkerTimeout is { } timeout)
                silo.Services.Configure<Magneton.Grains.CaptureSchedulerOptions>(o => o.WorkerTimeout = timeout);
            if (options.MaxWorkPerClient is { } maxWork)
                silo.Services.Configure<Magneton.Grains.ClientWorkOptions>(o => o.MaxInFlight = maxWork);
            options.ConfigureSilo?.Invoke(silo);
        });
        return builder.Build();
    }

    static void Validate(SiloHostOptions o)
    {
        if (o.SiloPort is < 1 or > 65535) throw new ArgumentException($"silo port {o.SiloPort} is not in 1..65535");
        if (o.GatewayPort is < 0 or > 65535) throw new ArgumentException($"gateway port {o.GatewayPort} is not in 0..65535");
        if (o.GatewayPort == o.SiloPort) throw new ArgumentException($"silo and gateway ports are both {o.SiloPort}");
        if (string.IsNullOrWhiteSpace(o.ClusterId)) throw new ArgumentException("the cluster id is empty");
        if (string.IsNullOrWhiteSpace(o.ServiceId)) throw new ArgumentException("the service id is empty");
        if (o.Kubernetes && string.IsNullOrWhiteSpace(o.PostgresConnectionString))
            throw new ArgumentException("in Kubernetes (KUBERNETES_SERVICE_HOST is set) a silo needs PostgreSQL membership: " +
                                        "give --postgres <connection string> or set MAGNETON_POSTGRES");
        // Without TLS anyone who reaches a port can drive the cluster (and its GPU workers): loopback only.
        if (o.Tls is null && (o.Kubernetes || o.Listen is { } l && !IPAddress.IsLoopback(l)))
            throw new ArgumentException($"a silo without TLS listens on loopback only; to listen on {(o.Kubernetes ? "the pod network" : o.Listen!.ToString())} "
                + "give --tls-cert, --tls-key and --tls-ca (mutual TLS with the cluster's CA)");
        if (o.PostgresConnectionString is not null && o.Primary is not null)
            throw new ArgumentException("a primary silo is for development clustering only; with PostgreSQL every silo finds the others in the membership table");
    }

    /// <summary>Sets ports and addresses; returns the advertised address, or null where Kubernetes hosting picks it.</summary>
    static IPAddress? ConfigureEndpoints(ISiloBuilder silo, SiloHostOptions o)
    {
        IPAddress? listen = o.Listen;
        if (o.Kubernetes && (listen is null || IsAny(listen)))
        {
            // Kubernetes hosting advertises POD_IP and binds all interfaces unless told otherwise.
            silo.Configure<EndpointOptions>(e =>
            {
                e.SiloPort = o.SiloPort;
                e.GatewayPort = o.GatewayPort;
            });
            return null;
        }
        listen ??= IPAddress.Loopback;
        var advertised = IsAny(listen) ? PickAdvertisedAddress() : listen;
        silo.Configure<EndpointOptions>(e =>
        {
            e.AdvertisedIPAddress = advertised;
            e.SiloPort = o.SiloPort;
            e.GatewayPort = o.GatewayPort;
            e.SiloListeningEndpoint = new IPEndPoint(listen, o.SiloPort);
            e.GatewayListeningEndpoint = o.GatewayPort > 0 ? new IPEndPoint(listen, o.GatewayPort) : null;
        });
        return advertised;
    }

    static bool IsAny(IPAddress a) => a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any);

    /// <summary>For a silo bound to all interfaces: POD_IP if set, else the first up, non-loopback IPv4 address.</summary>
    public static IPAddress PickAdvertisedAddress()
    {
        if (IPAddress.TryParse(Environment.GetEnvironmentVariable("POD_IP"), out var podIp)) return podIp;
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                if (nic.OperationalStatus != OperationalStatus.Up || nic.NetworkInterfaceType == NetworkInterfaceType.Loopback) continue;
                foreach (var ua in nic.GetIPProperties().UnicastAddresses)
                    if (ua.Address.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(ua.Address))
                        return ua.Address;
            }
        }
        catch (NetworkInformationException) { }
        return IPAddress.Loopback;
    }

    /// <summary>Where a started silo listens, its cluster and its storage (<see cref="IBundleStore.Location"/> or "memory").</summary>
    public static SiloHostInfo Describe(IHost host)
    {
        var details = host.Services.GetRequiredService<ILocalSiloDetails>();
        var cluster = host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ClusterOptions>>().Value;
        var store = host.Services.GetService<IBundleStore>();
        return new SiloHostInfo(details.SiloAddress.Endpoint, details.GatewayAddress?.Endpoint,
            cluster.ClusterId, cluster.ServiceId, store?.Location ?? "memory");
    }

    /// <summary>
    /// Creates Orleans' membership tables and queries (embedded Sql/PostgreSQL-Main.sql and
    /// Sql/PostgreSQL-Clustering.sql) unless OrleansMembershipTable exists. Safe to call from several silos at
    /// once (an advisory lock serialises them) and again later (it then does nothing).
    /// Returns true if it created the schema.
    /// </summary>
    public static async Task<bool> EnsurePostgresSchemaAsync(string connectionString, CancellationToken ct = default)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        await using var tx = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);

        await using (var lockCmd = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtext('magneton.orleans-membership-schema'))", connection, tx))
            await lockCmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);

        // A plain query of pg_class, not to_regclass: after waiting on the advisory lock, to_regclass can answer
        // from this backend's stale catalog cache and miss the table the silo before us just created.
        await using (var check = new NpgsqlCommand(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.relname = 'orleansmembershiptable' AND pg_catalog.pg_table_is_visible(c.oid))",
            connection, tx))
        {
            if (await check.ExecuteScalarAsync(ct).ConfigureAwait(false) is true)
            {
                await tx.CommitAsync(ct).ConfigureAwait(false);
                return false;
            }
        }

        foreach (var script in new[] { "PostgreSQL-Main.sql", "PostgreSQL-Clustering.sql" })
        {
            await using var cmd = new NpgsqlCommand(ReadSql(script), connection, tx);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>An embedded SQL script of src/Silo/Sql.</summary>
    public static string ReadSql(string fileName)
    {
        var asm = typeof(SiloHost).Assembly;
        string resource = "Magneton.Silo.Sql." + fileName;
        using var stream = asm.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"embedded resource {resource} is missing from {asm.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    sealed class PostgresSchemaInitializer(string connectionString) : IHostedService
    {
        public Task StartAsync(CancellationToken ct) => EnsurePostgresSchemaAsync(connectionString, ct);
        public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
    }

    /// <summary>A host lifetime that leaves start and stop to whoever holds the host.</summary>
    sealed class CallerManagedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken ct) => Task.CompletedTask;
        public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
    }
}
