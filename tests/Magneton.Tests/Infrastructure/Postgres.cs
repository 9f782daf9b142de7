using System.Diagnostics;
using System.Runtime.InteropServices;
using Npgsql;
using Xunit;

namespace Magneton.Tests.Infrastructure;

/// <summary>
/// A PostgreSQL server for the membership tests: the one named by MAGNETON_POSTGRES (set by .ci/run, which
/// starts its own), else a throwaway server made with the local PostgreSQL's initdb (Debian:
/// /usr/lib/postgresql/&lt;version&gt;/bin) in a temp directory, on 127.0.0.1 and a free port, user "orleans"
/// with trust authentication, stopped and deleted on dispose. initdb refuses to run as root, so as root the
/// server runs as the "postgres" user (runuser). Tests that need it use <see cref="PostgresFactAttribute"/>,
/// which skips them where neither exists.
/// </summary>
public sealed class Postgres : IAsyncLifetime
{
    public const string Variable = "MAGNETON_POSTGRES";
    const string User = "orleans";

    string? _dataRoot;
    string? _binDir;
    bool _runAsPostgres;

    /// <summary>Connection string of the server's maintenance database (the one from MAGNETON_POSTGRES as given).</summary>
    public string AdminConnectionString { get; private set; } = "";
    /// <summary>True when the server came from MAGNETON_POSTGRES (not started or stopped here).</summary>
    public bool External { get; private set; }

    /// <summary>Why no PostgreSQL can be had here, or null if one can.</summary>
    public static string? UnavailableReason { get; } = FindUnavailableReason();

    static string? FindUnavailableReason()
    {
        if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(Variable))) return null;
        if (FindBinDir() is null)
            return $"no PostgreSQL: {Variable} is not set and no /usr/lib/postgresql/*/bin/initdb is installed (apt-get install postgresql)";
        if (IsRoot && !File.Exists("/usr/sbin/runuser") && !File.Exists("/sbin/runuser"))
            return "no PostgreSQL: running as root, and initdb refuses root, but runuser is missing to run it as the postgres user";
        if (IsRoot && !UserExists("postgres"))
            return "no PostgreSQL: running as root, and initdb refuses root, but there is no postgres user to run it as";
        return null;
    }

    static string? FindBinDir()
    {
        const string root = "/usr/lib/postgresql";
        if (!Directory.Exists(root)) return null;
        return Directory.GetDirectories(root)
            .Select(d => Path.Combine(d, "bin"))
            .Where(b => File.Exists(Path.Combine(b, "initdb")) && File.Exists(Path.Combine(b, "pg_ctl")))
            .OrderByDescending(b => int.TryParse(Path.GetFileName(Path.GetDirectoryName(b)), out int v) ? v : 0)
            .FirstOrDefault();
    }

    [DllImport("libc")]
    static extern uint geteuid();

    static bool IsRoot => OperatingSystem.IsLinux() && geteuid() == 0;

    static bool UserExists(string name) =>
        File.Exists("/etc/passwd") && File.ReadLines("/etc/passwd").Any(l => l.StartsWith(name + ":", StringComparison.Ordinal));

    public async Task InitializeAsync()
    {
        if (UnavailableReason is not null) return; // every test that needs it is skipped
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } given && !string.IsNullOrWhiteSpace(given))
        {
            AdminConnectionString = given;
            External = true;
            return;
        }

        _binDir = FindBinDir()!;
        _runAsPostgres = IsRoot;
        // As root, a directory the postgres user can reach: /tmp rather than a TMPDIR under /root.
        string tempRoot = _runAsPostgres ? "/tmp" : Path.GetTempPath();
        _dataRoot = Path.Combine(tempRoot, "magneton-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_dataRoot);
        if (_runAsPostgres) await RunAsync("chown", ["postgres:", _dataRoot]);

        string data = Path.Combine(_dataRoot, "data");
        await RunPgAsync("initdb", ["-D", data, "-U", User, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
        for (int attempt = 1; ; attempt++)
        {
            int port = MagnetonProcess.FreePort();
            try
            {
                await RunPgAsync("pg_ctl", ["-D", data, "-l", Path.Combine(_dataRoot, "server.log"), "-w", "-t", "30",
                    "-o", $"-p {port} -k {_dataRoot} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
                    "start"]);
                AdminConnectionString = $"Host=127.0.0.1;Port={port};Username={User};Database=postgres;Timeout=10";
                break;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                // The port was probably taken meanwhile: another one.
            }
        }
    }

    /// <summary>A new empty database on the server; falls back to the given database where creating one is not allowed.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        string name = "magneton_test_" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            await using var conn = new NpgsqlConnection(AdminConnectionString);
            await conn.OpenAsync();
            await using var cmd = new NpgsqlCommand($"CREATE DATABASE {name}", conn);
            await cmd.ExecuteNonQueryAsync();
        }
        catch (PostgresException) when (External)
        {
            return AdminConnectionString;
        }
        return new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name }.ConnectionString;
    }

    public async Task DisposeAsync()
    {
        if (External || _dataRoot is null) return;
        try
        {
            await RunPgAsync("pg_ctl", ["-D", Path.Combine(_dataRoot, "data"), "-m", "immediate", "-w", "stop"]);
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            try { Directory.Delete(_dataRoot, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    Task RunPgAsync(string tool, IEnumerable<string> args)
    {
        string exe = Path.Combine(_binDir!, tool);
        return _runAsPostgres ? RunAsync("runuser", ["-u", "postgres", "--", exe, .. args]) : RunAsync(exe, args);
    }

    static async Task RunAsync(string exe, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{exe} {string.Join(' ', psi.ArgumentList)} exited {p.ExitCode}: {await stderr}{await stdout}");
    }
}

/// <summary>A fact that needs PostgreSQL; skipped (with the reason) where <see cref="Postgres"/> has none.</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (Postgres.UnavailableReason is { } reason) Skip = reason;
    }
}

/// <summary>A theory that needs PostgreSQL; skipped (with the reason) where <see cref="Postgres"/> has none.</summary>
public sealed class PostgresTheoryAttribute : TheoryAttribute
{
    public PostgresTheoryAttribute()
    {
        if (Postgres.UnavailableReason is { } reason) Skip = reason;
    }
}
