using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Magneton.Silo;

namespace Magneton.Client;

/// <summary>Arguments of <c>magneton silo</c>, parsed by hand like compare's (exact one-line errors naming the flag).</summary>
public sealed record SiloArguments
{
    public const string BlobConnectionVariable = "MAGNETON_BLOB_CONNECTION";
    public const string PostgresVariable = "MAGNETON_POSTGRES";
    /// <summary>Default cluster and service ids, shared with the CLI's --cluster client (ClusterConnection).</summary>
    public const string ClusterIdVariable = "MAGNETON_CLUSTER_ID", ServiceIdVariable = "MAGNETON_SERVICE_ID";

    public int SiloPort { get; init; } = SiloHostOptions.DefaultSiloPort;
    public int GatewayPort { get; init; } = SiloHostOptions.DefaultGatewayPort;
    public IPEndPoint? Primary { get; init; }
    /// <summary>Null: the default (127.0.0.1; in Kubernetes all interfaces, POD_IP advertised).</summary>
    public IPAddress? Listen { get; init; }
    public string? StorageDir { get; init; }
    public string? BlobConnection { get; init; }
    public string Container { get; init; } = "magneton";
    public string ClusterId { get; init; } = SiloHostOptions.DefaultClusterId;
    public string ServiceId { get; init; } = SiloHostOptions.DefaultServiceId;
    public string? Postgres { get; init; }
    public TelemetryExport Telemetry { get; init; }
    public bool Kubernetes { get; init; }
    public TimeSpan? WorkerTimeout { get; init; }
    /// <summary>--allow-path: local directories whose bundles clients may name by path (development only).</summary>
    public IReadOnlyList<string> AllowedPaths { get; init; } = [];
    public bool Help { get; init; }

    /// <summary>Parses the arguments after <c>silo</c>; <paramref name="env"/> reads environment variables (tests pass their own).</summary>
    public static SiloArguments Parse(ReadOnlySpan<string> args, Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        int siloPort = SiloHostOptions.DefaultSiloPort, gatewayPort = SiloHostOptions.DefaultGatewayPort;
        string? primary = null, listen = null, storageDir = null, blob = null, postgres = null, telemetry = null;
        TimeSpan? workerTimeout = null;
        var allowed = new List<string>();
        string container = "magneton";
        string clusterId = Blank(env(ClusterIdVariable)) is { } c ? ParseId(ClusterIdVariable, c) : SiloHostOptions.DefaultClusterId;
        string serviceId = Blank(env(ServiceIdVariable)) is { } s ? ParseId(ServiceIdVariable, s) : SiloHostOptions.DefaultServiceId;

        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith('-'))
                throw new UsageException($"unexpected argument '{arg}': silo takes only options (see magneton silo --help)");
            string name = arg;
            string? inline = null;
            int eq = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 2) { name = arg[..eq]; inline = arg[(eq + 1)..]; }
            string? next = i + 1 < args.Length ? args[i + 1] : null;

            string Value(ref int index)
            {
                if (inline is not null) return inline;
                if (next is null) throw new UsageException($"option {name} needs a value");
                index++;
                return next;
            }

            switch (name)
            {
                case "-h" or "--help":
                    return new SiloArguments { Help = true };
                case "--silo-port": siloPort = ParsePort(name, Value(ref i), allowZero: false); break;
                case "--gateway-port": gatewayPort = ParsePort(name, Value(ref i), allowZero: true); break;
                case "--primary": primary = NonEmpty(name, Value(ref i)); break;
                case "--listen": listen = NonEmpty(name, Value(ref i)); break;
                case "--storage-dir": storageDir = NonEmpty(name, Value(ref i)); break;
                case "--blob-connection": blob = NonEmpty(name, Value(ref i)); break;
                case "--container": container = ParseContainer(Value(ref i)); break;
                case "--cluster-id": clusterId = ParseId(name, Value(ref i)); break;
                case "--service-id": serviceId = ParseId(name, Value(ref i)); break;
                case "--postgres": postgres = NonEmpty(name, Value(ref i)); break;
                case "--telemetry": telemetry = Value(ref i); break;
                case "--worker-timeout": workerTimeout = ParseSeconds(name, Value(ref i)); break;
                case "--allow-path": allowed.Add(Path.GetFullPath(NonEmpty(name, Value(ref i)))); break;
                default:
                    throw new UsageException($"unknown option '{name}' for silo (see magneton silo --help)");
            }
        }

        if (storageDir is not null && blob is not null)
            throw new UsageException("--storage-dir and --blob-connection exclude each other: bundles go to one store");
        blob ??= storageDir is null ? Blank(env(BlobConnectionVariable)) : null;
        if (blob is null) storageDir ??= DefaultStorageDir(env);
        storageDir = storageDir is null ? null : Path.GetFullPath(storageDir);

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
            Primary = primary is null ? null : ParseEndpoint(primary),
            Listen = listen is null ? null : ParseAddress(listen),
            StorageDir = storageDir,
            BlobConnection = blob,
            Container = container,
            ClusterId = clusterId,
            ServiceId = serviceId,
            Postgres = postgres,
            Telemetry = export,
            Kubernetes = kubernetes,
            WorkerTimeout = workerTimeout,
            AllowedPaths = allowed,
        };
    }

    static TimeSpan ParseSeconds(string name, string value) =>
        double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var s) && s is > 0 and <= 3600
            ? TimeSpan.FromSeconds(s)
            : throw new UsageException($"option {name} needs a number of seconds in (0, 3600], got '{value}'");

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
            Container = Container,
            AllowedPaths = AllowedPaths,
        },
        PostgresConnectionString = Postgres,
        Kubernetes = Kubernetes,
        Telemetry = Telemetry,
        WorkerTimeout = WorkerTimeout,
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

    static string NonEmpty(string name, string value) =>
        string.IsNullOrWhiteSpace(value) ? throw new UsageException($"option {name} needs a non-empty value") : value;

    static int ParsePort(string name, string text, bool allowZero)
    {
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535 || (port == 0 && !allowZero))
            throw new UsageException($"{name}: '{text}' is not a port number ({(allowZero ? 0 : 1)}..65535)");
        return port;
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

    static IPAddress ParseAddress(string text)
    {
        if (text == "localhost") return IPAddress.Loopback;
        if (!IPAddress.TryParse(text, out var address))
            throw new UsageException($"--listen: '{text}' is not an IP address (such as 127.0.0.1 or 0.0.0.0)");
        return address;
    }

    static IPEndPoint ParseEndpoint(string text)
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

    public const string Usage = """
        magneton silo: runs one Orleans silo of a Magneton cluster until SIGTERM or SIGINT (then stops cleanly,
        exit 0). Prints one line on stdout once it is active:
          magneton silo: ready silo=<addr:port> gateway=<addr:port> cluster=<id> storage=<where>
        and logs to stderr.

        Usage:
          magneton silo [options]

        options:
          --silo-port <n>           silo-to-silo port (default 11111)
          --gateway-port <n>        port clients connect to, 0 for none (default 30000)
          --primary <host:port>     localhost clustering: the primary silo's silo port; without it this silo is
                                    the primary
          --listen <addr>           address the ports bind to and that is advertised (default 127.0.0.1;
                                    0.0.0.0 binds all interfaces and advertises POD_IP or the first
                                    non-loopback address; in Kubernetes the default is all interfaces
                                    with the pod IP advertised)
          --storage-dir <dir>       keep bundles, reports and grain state in a directory, shared by the silos
                                    of one machine (default $XDG_DATA_HOME/magneton or ~/.local/share/magneton)
          --blob-connection <str>   Azure Blob storage instead (Azurite locally); also MAGNETON_BLOB_CONNECTION;
                                    excludes --storage-dir
          --container <name>        blob container of bundles and reports (default magneton)
          --cluster-id <id>         Orleans cluster id (default $MAGNETON_CLUSTER_ID or magneton); clients
                                    must use the same
          --service-id <id>         Orleans service id (default $MAGNETON_SERVICE_ID or magneton)
          --postgres <connstr>      cluster membership in PostgreSQL (Npgsql connection string) instead of
                                    localhost clustering; also MAGNETON_POSTGRES; required in Kubernetes
          --telemetry <export>      console | otlp | none (default otlp when OTEL_EXPORTER_OTLP_ENDPOINT is set,
                                    else none); OTLP is configured by the standard OTEL_* variables
          --worker-timeout <s>      a GPU worker silent this long has its capture job queued again (default 15)
          --allow-path <dir>        clients may name bundle directories under <dir> by path (repeatable; local
                                    development only: otherwise a silo reads bundles only from its store)
          -h, --help                show this help

        A local two-silo cluster:
          magneton silo --storage-dir /tmp/mg &
          magneton silo --storage-dir /tmp/mg --silo-port 11112 --gateway-port 30001 --primary 127.0.0.1:11111 &

        """;
}
