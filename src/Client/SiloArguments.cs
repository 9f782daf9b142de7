using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Magneton.Silo;

namespace Magneton.Client;

/// <summary>Arguments of <c>magneton silo</c>: its options (<see cref="Definition"/>) with the environment's defaults.</summary>
public sealed record SiloArguments
{
    public const string BlobConnectionVariable = "MAGNETON_BLOB_CONNECTION";
    public const string PostgresVariable = "MAGNETON_POSTGRES";
    public const string CacheDirVariable = "MAGNETON_CACHE_DIR";
    public const string CacheMaxVariable = "MAGNETON_CACHE_MAX_GB";
    /// <summary>Default cluster and service ids, shared with the CLI's --cluster client (ClusterConnection).</summary>
    public const string ClusterIdVariable = "MAGNETON_CLUSTER_ID", ServiceIdVariable = "MAGNETON_SERVICE_ID";

    public int SiloPort { get; init; } = SiloHostOptions.DefaultSiloPort;
    public int GatewayPort { get; init; } = SiloHostOptions.DefaultGatewayPort;
    public IPEndPoint? Primary { get; init; }
    /// <summary>Null: the default (127.0.0.1; in Kubernetes all interfaces, POD_IP advertised).</summary>
    public IPAddress? Listen { get; init; }
    public string? StorageDir { get; init; }
    public string? BlobConnection { get; init; }
    /// <summary>Where a blob-store silo downloads the bundles it reads (null: the temp directory's magneton-cache).</summary>
    public string? CacheDir { get; init; }
    /// <summary>What that cache may hold, in bytes (null: the store's default, 16 GiB).</summary>
    public long? CacheMaxBytes { get; init; }
    public string Container { get; init; } = "magneton";
    public string ClusterId { get; init; } = SiloHostOptions.DefaultClusterId;
    public string ServiceId { get; init; } = SiloHostOptions.DefaultServiceId;
    public string? Postgres { get; init; }
    public TelemetryExport Telemetry { get; init; }
    public bool Kubernetes { get; init; }
    public TimeSpan? WorkerTimeout { get; init; }
    /// <summary>--max-work-per-client (null: ClientWorkOptions.DefaultMaxInFlight).</summary>
    public int? MaxWorkPerClient { get; init; }
    /// <summary>--allow-path: local directories whose bundles clients may name by path (development only).</summary>
    public IReadOnlyList<string> AllowedPaths { get; init; } = [];

    /// <summary>Parses the arguments after <c>silo</c> with the command's definition; <paramref name="env"/> reads environment variables (tests pass their own).</summary>
    public static SiloArguments Parse(IReadOnlyList<string> args, Func<string, string?>? env = null)
    {
        var definition = new Definition();
        return definition.Read(Cli.Parse(definition.Command, args), env ?? Environment.GetEnvironmentVariable);
    }

    /// <summary>The options of <c>magneton silo</c>, and how they and the environment make <see cref="SiloArguments"/>.</summary>
    internal sealed class Definition
    {
        readonly Option<int> _siloPort = CliOptions.Value("--silo-port", "n", "silo-to-silo port", v => ParsePort("--silo-port", v, allowZero: false));
        readonly Option<int> _gatewayPort = CliOptions.Value("--gateway-port", "n", "port clients connect to, 0 for none",
            v => ParsePort("--gateway-port", v, allowZero: true));
        readonly Option<IPEndPoint?> _primary = CliOptions.Value<IPEndPoint?>("--primary", "host:port",
            "localhost clustering: the primary silo's silo port; without it this silo is the primary", ParseEndpoint);
        readonly Option<IPAddress?> _listen = CliOptions.Value<IPAddress?>("--listen", "addr",
            "address the ports bind to and that is advertised (default 127.0.0.1; 0.0.0.0 binds all interfaces and advertises POD_IP "
            + "or the first non-loopback address; in Kubernetes the default is all interfaces with the pod IP advertised)", ParseAddress);
        readonly Option<string?> _storageDir = CliOptions.NonEmpty("--storage-dir", "dir",
            "keep bundles, reports and grain state in a directory, shared by the silos of one machine "
            + "(default $XDG_DATA_HOME/magneton or ~/.local/share/magneton)");
        readonly Option<string?> _blob = CliOptions.NonEmpty("--blob-connection", "str",
            $"Azure Blob storage instead (Azurite locally); also {BlobConnectionVariable}; excludes --storage-dir");
        readonly Option<string?> _cacheDir = CliOptions.NonEmpty("--cache-dir", "dir",
            $"with --blob-connection: where the silo downloads the bundles it reads (default the temp directory's magneton-cache); "
            + $"also {CacheDirVariable}");
        readonly Option<long?> _cacheMax = CliOptions.Value<long?>("--cache-max-gb", "GiB",
            $"with --blob-connection: what that cache may hold; past it the least recently read bundles that no ingest is reading are "
            + $"deleted (default 16); also {CacheMaxVariable}", v => ParseGiB("--cache-max-gb", v));
        readonly Option<string> _container = CliOptions.Value("--container", "name", "blob container of bundles and reports", ParseContainer);
        readonly Option<string?> _clusterId = CliOptions.Value<string?>("--cluster-id", "id",
            $"Orleans cluster id (default ${ClusterIdVariable} or {SiloHostOptions.DefaultClusterId}); clients must use the same", v => ParseId("--cluster-id", v));
        readonly Option<string?> _serviceId = CliOptions.Value<string?>("--service-id", "id",
            $"Orleans service id (default ${ServiceIdVariable} or {SiloHostOptions.DefaultServiceId})", v => ParseId("--service-id", v));
        readonly Option<string?> _postgres = CliOptions.NonEmpty("--postgres", "connstr",
            $"cluster membership in PostgreSQL (Npgsql connection string) instead of localhost clustering; also {PostgresVariable}; required in Kubernetes");
        readonly Option<string?> _telemetry = CliOptions.Text("--telemetry", "export",
            "console | otlp | none (default otlp when OTEL_EXPORTER_OTLP_ENDPOINT is set, else none); OTLP is configured by the standard OTEL_* variables");
        readonly Option<double?> _workerTimeout = CliOptions.Value<double?>("--worker-timeout", "s",
            "a GPU worker silent this long has its capture job queued again (default 15)", v => CliOptions.Seconds("--worker-timeout", 3600)(v));
        readonly Option<int?> _maxWork = CliOptions.Value<int?>("--max-work-per-client", "n",
            $"unfinished comparisons and campaigns one client (its certificate with TLS, else its connection) may have started (default {Magneton.Grains.ClientWorkOptions.DefaultMaxInFlight})",
            v => CliOptions.Index("--max-work-per-client")(v) is var n and > 0 ? n : throw new UsageException($"--max-work-per-client: '{v}' is not a positive integer"));
        readonly Option<string[]> _allowPath = new("--allow-path")
        {
            HelpName = "dir",
            Description = "clients may name bundle directories under <dir> by path (repeatable; local development only: otherwise a silo "
                + "reads bundles only from its store)",
            Arity = ArgumentArity.OneOrMore, // repeatable: one directory per --allow-path
            AllowMultipleArgumentsPerToken = false,
        };

        public Definition()
        {
            _siloPort.DefaultValueFactory = _ => SiloHostOptions.DefaultSiloPort;
            _gatewayPort.DefaultValueFactory = _ => SiloHostOptions.DefaultGatewayPort;
            _container.DefaultValueFactory = _ => "magneton";
            _telemetry.CompletionSources.Add("console", "otlp", "none");
            Command = new Command("silo",
                "Runs one Orleans silo of a Magneton cluster until SIGTERM or SIGINT (then stops cleanly, exit 0). Prints one line on "
                + "stdout once it is active: magneton silo: ready silo=<addr:port> gateway=<addr:port> cluster=<id> storage=<where>, and "
                + "logs to stderr. A local two-silo cluster: magneton silo --storage-dir /tmp/mg & magneton silo --storage-dir /tmp/mg "
                + "--silo-port 11112 --gateway-port 30001 --primary 127.0.0.1:11111 &")
            {
                _siloPort, _gatewayPort, _primary, _listen, _storageDir, _blob, _cacheDir, _cacheMax, _container, _clusterId, _serviceId, _postgres, _telemetry, _workerTimeout, _maxWork, _allowPath,
            };
            TlsArguments.AddTo(Command);
        }

        public Command Command { get; }

        public SiloArguments Read(ParseResult pr, Func<string, string?> env)
        {
            int siloPort = pr.GetValue(_siloPort), gatewayPort = pr.GetValue(_gatewayPort);
            var primary = pr.GetValue(_primary);
            var listen = pr.GetValue(_listen);
            string? storageDir = pr.GetValue(_storageDir),
                blob = pr.GetValue(_blob), postgres = pr.GetValue(_postgres), telemetry = pr.GetValue(_telemetry);
            TimeSpan? workerTimeout = pr.GetValue(_workerTimeout) is double s ? TimeSpan.FromSeconds(s) : null;
            string container = pr.GetValue(_container)!;
            string clusterId = pr.GetValue(_clusterId)
                ?? (Blank(env(ClusterIdVariable)) is { } c ? ParseId(ClusterIdVariable, c) : SiloHostOptions.DefaultClusterId);
            string serviceId = pr.GetValue(_serviceId)
                ?? (Blank(env(ServiceIdVariable)) is { } v ? ParseId(ServiceIdVariable, v) : SiloHostOptions.DefaultServiceId);

            if (storageDir is not null && blob is not null)
                throw new UsageException("--storage-dir and --blob-connection exclude each other: bundles go to one store");
            blob ??= storageDir is null ? Blank(env(BlobConnectionVariable)) : null;
            if (blob is null) storageDir ??= DefaultStorageDir(env);
            storageDir = storageDir is null ? null : Path.GetFullPath(storageDir);

            string? cacheDir = pr.GetValue(_cacheDir);
            if (cacheDir is not null && blob is null)
                throw new UsageException("--cache-dir: only a silo on blob storage (--blob-connection) downloads bundles; a --storage-dir silo reads them in place");
            cacheDir ??= blob is null ? null : Blank(env(CacheDirVariable));
            cacheDir = cacheDir is null ? null : Path.GetFullPath(cacheDir);
            long? cacheMax = pr.GetValue(_cacheMax);
            if (cacheMax is not null && blob is null)
                throw new UsageException("--cache-max-gb: only a silo on blob storage (--blob-connection) keeps a download cache");
            cacheMax ??= blob is not null && Blank(env(CacheMaxVariable)) is { } m ? ParseGiB(CacheMaxVariable, m) : null;

            postgres ??= Blank(env(PostgresVariable));
            bool kubernetes = !string.IsNullOrEmpty(env("KUBERNETES_SERVICE_HOST"));
            if (kubernetes && postgres is null)
                throw new UsageException($"--postgres: in Kubernetes (KUBERNETES_SERVICE_HOST is set) the silo needs PostgreSQL membership; give --postgres <connection string> or set {PostgresVariable}");
            if (postgres is not null && primary is not null)
                throw new UsageException("--primary: a primary silo is for localhost clustering only; with --postgres the silos find each other in the membership table");
            if (postgres is not null) CheckConnectionString(postgres);

            TelemetryExport export;
            if (telemetry is null)
                export = string.IsNullOrWhiteSpace(env(MagnetonTelemetryExtensions.OtlpEndpointVariable)) ? TelemetryExport.None : TelemetryExport.Otlp;
            else if (!MagnetonTelemetryExtensions.TryParseExport(telemetry, out export))
                throw new UsageException($"--telemetry: '{telemetry}' is not one of console, otlp, none");

            if (gatewayPort == siloPort)
                throw new UsageException($"--gateway-port: {gatewayPort} is also the silo port");

            return new SiloArguments
            {
                SiloPort = siloPort,
                GatewayPort = gatewayPort,
                Primary = primary,
                Listen = listen,
                StorageDir = storageDir,
                BlobConnection = blob,
                CacheDir = cacheDir,
                CacheMaxBytes = cacheMax,
                Container = container,
                ClusterId = clusterId,
                ServiceId = serviceId,
                Postgres = postgres,
                Telemetry = export,
                Kubernetes = kubernetes,
                WorkerTimeout = workerTimeout,
                MaxWorkPerClient = pr.GetValue(_maxWork),
                AllowedPaths = (pr.GetValue(_allowPath) ?? []).Select(p => string.IsNullOrWhiteSpace(p)
                    ? throw new UsageException("option --allow-path needs a non-empty value") : Path.GetFullPath(p)).ToList(),
            };
        }
    }

    /// <summary>The silo host options these arguments mean.</summary>
    public SiloHostOptions ToHostOptions() => new()
    {
        SiloPort = SiloPort,
        GatewayPort = GatewayPort,
        Primary = Primary,
        Listen = Listen,
        ClusterId = ClusterId,
        ServiceId = ServiceId,
        Storage = new MagnetonStorageOptions
        {
            Directory = BlobConnection is null ? StorageDir : null,
            BlobConnectionString = BlobConnection,
            CacheDirectory = CacheDir,
            CacheMaxBytes = CacheMaxBytes,
            Container = Container,
            AllowedPaths = AllowedPaths,
        },
        PostgresConnectionString = Postgres,
        Kubernetes = Kubernetes,
        Telemetry = Telemetry,
        WorkerTimeout = WorkerTimeout,
        MaxWorkPerClient = MaxWorkPerClient,
    };

    /// <summary><c>$XDG_DATA_HOME/magneton</c>, else <c>~/.local/share/magneton</c>.</summary>
    public static string DefaultStorageDir(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        if (Blank(env("XDG_DATA_HOME")) is { } xdg && Path.IsPathRooted(xdg)) return Path.Combine(xdg, "magneton");
        string home = Blank(env("HOME")) ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".local", "share", "magneton");
    }

    static string? Blank(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;

    static int ParsePort(string name, string text, bool allowZero)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535 || (port == 0 && !allowZero))
            throw new UsageException($"{name}: '{text}' is not a port number ({(allowZero ? 0 : 1)}..65535)");
        return port;
    }

    /// <summary>A cache bound given in GiB, in bytes: a positive number up to a petabyte, fractions allowed (tests use a few MiB).</summary>
    static long ParseGiB(string name, string text)
    {
        if (!double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double g) || !(g > 0) || g > 1 << 20
            || (long)(g * (1L << 30)) is not (> 0 and var bytes))
            throw new UsageException($"{name}: '{text}' is not a size in GiB (a positive number, such as 16 or 0.5)");
        return bytes;
    }

    static string ParseId(string name, string text)
    {
        // Ids end up in the membership table (varchar(150)), blob names and logs.
        if (text.Length is 0 or > 150 || !text.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            throw new UsageException($"{name}: '{text}' is not an id (1 to 150 letters, digits, '-', '_', '.')");
        return text;
    }

    static string ParseContainer(string text)
    {
        // Azure blob container naming rules (the directory store uses the name as a folder too).
        if (text.Length is < 3 or > 63 || !text.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
            || text[0] == '-' || text[^1] == '-' || text.Contains("--", StringComparison.Ordinal))
            throw new UsageException($"--container: '{text}' is not a blob container name (3 to 63 lowercase letters, digits and single dashes)");
        return text;
    }

    static IPAddress? ParseAddress(string text)
    {
        if (text == "localhost") return IPAddress.Loopback;
        if (!IPAddress.TryParse(text, out var address))
            throw new UsageException($"--listen: '{text}' is not an IP address (such as 127.0.0.1 or 0.0.0.0)");
        return address;
    }

    static IPEndPoint? ParseEndpoint(string text)
    {
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
            throw new UsageException($"--primary: '{text}' is not host:port (the primary silo's silo port)");
        string host = text[..colon].Trim('[', ']');
        string portText = text[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            throw new UsageException($"--primary: '{portText}' is not a port number (1..65535)");
        if (host == "localhost") return new IPEndPoint(IPAddress.Loopback, port);
        if (IPAddress.TryParse(host, out var ip)) return new IPEndPoint(ip, port);
        try
        {
            var addresses = Dns.GetHostAddresses(host);
            var pick = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault();
            if (pick is not null) return new IPEndPoint(pick, port);
        }
        catch (SocketException) { }
        throw new UsageException($"--primary: host '{host}' cannot be resolved");
    }

    static void CheckConnectionString(string connectionString)
    {
        try
        {
            _ = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            // The connection string itself is not echoed: it may hold a password.
            throw new UsageException($"--postgres: not a valid Npgsql connection string ({Program.OneLine(e.Message)})");
        }
    }
}
