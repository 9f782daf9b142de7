using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Magneton.Client;

/// <summary>
/// Where the logs of a CLI run's hosts (the embedded silo, a cluster connection: Orleans, hosting, grains) go, so
/// that the terminal shows Magneton's own lines only: to a log file from Warning up (created at the first line, under
/// <c>$MAGNETON_LOG_DIR</c>, else <c>$XDG_STATE_HOME/magneton/logs</c>, else <c>~/.local/state/magneton/logs</c>), and
/// with <c>--verbose</c> also to stderr from Error up, one line each. The CLI sets <see cref="Current"/> for the run
/// (<see cref="Cli"/>); a host built outside a run (a test's connection) logs nowhere.
/// </summary>
public sealed class CliLogging : IDisposable
{
    static readonly AsyncLocal<CliLogging?> current = new();

    /// <summary>The logging of the CLI run on this async flow, or null outside one.</summary>
    public static CliLogging? Current
    {
        get => current.Value;
        set => current.Value = value;
    }

    const string DirectoryVariable = "MAGNETON_LOG_DIR";
    static readonly TimeSpan KeepFor = TimeSpan.FromDays(7);

    readonly Lock _gate = new();
    readonly TextWriter _stderr;
    TextWriter? _file;

    public CliLogging(TextWriter stderr, bool verbose, Func<string, string?>? env = null)
    {
        _stderr = stderr;
        Verbose = verbose;
        FilePath = Path.Combine(Directory(env ?? Environment.GetEnvironmentVariable),
            string.Create(CultureInfo.InvariantCulture, $"magneton-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}.log"));
    }

    public bool Verbose { get; }

    /// <summary>The log file of this run; it exists once something was logged.</summary>
    public string FilePath { get; }

    /// <summary>Configures a host's logging: what this run's hosts log goes here, not to the console.</summary>
    public static void Configure(ILoggingBuilder logging)
    {
        logging.ClearProviders();
        logging.SetMinimumLevel(LogLevel.Warning);
        if (Current is { } run) logging.AddProvider(new Provider(run));
    }

    static string Directory(Func<string, string?> env)
    {
        if (env(DirectoryVariable) is { Length: > 0 } dir) return dir;
        if (env("XDG_STATE_HOME") is { Length: > 0 } state && Path.IsPathRooted(state)) return Path.Combine(state, "magneton", "logs");
        string home = env("HOME") is { Length: > 0 } h ? h : Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(home, ".local", "state", "magneton", "logs");
    }

    void Write(LogLevel level, string category, EventId id, string message, Exception? exception)
    {
        var time = DateTime.UtcNow.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture);
        var head = $"{Short(level)} {category}[{id.Id}]";
        lock (_gate)
        {
            var file = _file ??= Open();
            file.WriteLine($"{time} {head}: {message}{(exception is null ? "" : Environment.NewLine + exception)}");
            file.Flush();
            if (Verbose && level >= LogLevel.Error)
                _stderr.WriteLine($"magneton: log: {head}: {Program.OneLine(message)}"
                    + (exception is null ? "" : $" ({exception.GetType().Name}: {Program.OneLine(exception.Message)})"));
        }
    }

    TextWriter Open()
    {
        try
        {
            var dir = Path.GetDirectoryName(FilePath)!;
            System.IO.Directory.CreateDirectory(dir);
            foreach (var old in System.IO.Directory.EnumerateFiles(dir, "magneton-*.log"))
                if (File.GetLastWriteTimeUtc(old) < DateTime.UtcNow - KeepFor) File.Delete(old);
            return new StreamWriter(new FileStream(FilePath, FileMode.Append, FileAccess.Write, FileShare.Read));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return TextWriter.Null; // logs are a diagnostic: a read-only home must not fail the command
        }
    }

    static string Short(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        _ => "crit",
    };

    public void Dispose()
    {
        lock (_gate)
        {
            _file?.Dispose();
            _file = TextWriter.Null;
        }
    }

    /// <summary>The hosts' provider; the run, not the host, owns the file (several hosts may share one run).</summary>
    sealed class Provider(CliLogging run) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(run, categoryName);

        public void Dispose() { }
    }

    sealed class Logger(CliLogging run, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel is >= LogLevel.Warning and < LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) run.Write(logLevel, category, eventId, formatter(state, exception), exception);
        }
    }
}
