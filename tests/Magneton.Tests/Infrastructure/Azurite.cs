using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using Xunit;

namespace Magneton.Tests.Infrastructure;

/// <summary>
/// A real Azurite blob server (npm azurite@3.37.0) on 127.0.0.1 and a free port, persisting to a directory so
/// that <see cref="RestartAsync"/> keeps the data. The executable is <c>$MAGNETON_AZURITE_BIN</c> (set by .ci/run)
/// or else an install in <c>$XDG_CACHE_HOME/magneton/azurite-3.37.0</c> (or <c>~/.cache/...</c>), made once by
/// <c>npm install</c> under a lock file.
/// </summary>
public sealed class Azurite : IAsyncDisposable, IDisposable
{
    public const string Version = "3.37.0";
    public const string AccountName = "devstoreaccount1";
    public const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    // Node starting Azurite takes 2-5 s alone and was seen past 30 s on a loaded 2-core machine.
    static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);
    static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);
    static readonly SemaphoreSlim InstallLock = new(1, 1);
    static string? _installed;

    readonly string _executable;
    readonly bool _ownsLocation;
    readonly StringBuilder _output = new();
    Process? _process;

    Azurite(string executable, int port, string location, bool ownsLocation)
    {
        _executable = executable;
        Port = port;
        Location = location;
        _ownsLocation = ownsLocation;
    }

    public int Port { get; }

    /// <summary>Azurite's data directory (<c>--location</c>).</summary>
    public string Location { get; }

    public string BlobEndpoint => $"http://127.0.0.1:{Port}/{AccountName}";

    public string ConnectionString => ConnectionStringFor(BlobEndpoint);

    public static string ConnectionStringFor(string blobEndpoint) =>
        $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};BlobEndpoint={blobEndpoint};";

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>The node process id while running.</summary>
    public int? ProcessId => IsRunning ? _process!.Id : null;

    /// <summary>
    /// Starts Azurite on a free loopback port, with data in <paramref name="location"/> (a new temp directory,
    /// deleted on dispose, when null), and waits until the port accepts connections.
    /// </summary>
    public static async Task<Azurite> StartAsync(string? location = null, CancellationToken ct = default)
    {
        var exe = await FindExecutableAsync(ct).ConfigureAwait(false);
        bool owns = location is null;
        location ??= Path.Combine(Path.GetTempPath(), $"magneton-azurite-{Guid.NewGuid():N}");
        Directory.CreateDirectory(location);
        for (int attempt = 1; ; attempt++)
        {
            var azurite = new Azurite(exe, FreeLoopbackPort(), location, owns);
            try
            {
                await azurite.StartProcessAsync(ct).ConfigureAwait(false);
                return azurite;
            }
            catch (Exception e) when (attempt < 3 && e is not TimeoutException && !ct.IsCancellationRequested)
            {
                await azurite.StopAsync().ConfigureAwait(false); // the port was probably taken meanwhile: another one
            }
            catch
            {
                await azurite.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
    }

    async Task StartProcessAsync(CancellationToken ct)
    {
        if (IsRunning) throw new InvalidOperationException("Azurite is running already");
        var psi = new ProcessStartInfo(_executable)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var a in new[]
                 {
                     "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(), "--location", Location,
                     "--disableTelemetry", "--skipApiVersionCheck", "--silent",
                 })
            psi.ArgumentList.Add(a);
        var p = new Process { StartInfo = psi, EnableRaisingEvents = true };
        p.OutputDataReceived += (_, e) => Append(e.Data);
        p.ErrorDataReceived += (_, e) => Append(e.Data);
        if (!p.Start()) throw new InvalidOperationException($"could not start {_executable}");
        _process = p;
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();

        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (p.HasExited)
                throw new InvalidOperationException(
                    $"Azurite exited with code {p.ExitCode} before listening on 127.0.0.1:{Port}: {LastOutput()}");
            if (await AcceptsConnectionsAsync(Port, ct).ConfigureAwait(false)) return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Azurite did not listen on 127.0.0.1:{Port} within {StartTimeout.TotalSeconds} s: {LastOutput()}");
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
    }

    void Append(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.AppendLine(line);
            if (_output.Length > 16_000) _output.Remove(0, _output.Length - 8_000);
        }
    }

    string LastOutput()
    {
        lock (_output)
        {
            var s = _output.ToString().Trim();
            return s.Length == 0 ? "(no output)" : s.Replace('\n', ' ');
        }
    }

    static async Task<bool> AcceptsConnectionsAsync(int port, CancellationToken ct)
    {
        using var client = new TcpClient();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return false;
        }
    }

    [DllImport("libc", SetLastError = true, EntryPoint = "kill")]
    static extern int SysKill(int pid, int signal);

    const int SIGTERM = 15;

    /// <summary>Stops Azurite with SIGTERM (SIGKILL after 10 s) and waits until it has exited. Data stays.</summary>
    public async Task StopAsync()
    {
        var p = _process;
        if (p is null) return;
        _process = null;
        try
        {
            if (!p.HasExited)
            {
                if (OperatingSystem.IsWindows() || SysKill(p.Id, SIGTERM) != 0) p.Kill(entireProcessTree: true);
                using var cts = new CancellationTokenSource(StopTimeout);
                try
                {
                    await p.WaitForExitAsync(cts.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    p.Kill(entireProcessTree: true);
                    await p.WaitForExitAsync().ConfigureAwait(false);
                }
            }
        }
        finally
        {
            p.Dispose();
        }
    }

    /// <summary>kill -9: no clean stop (whatever Azurite had not written to its data directory is lost).</summary>
    public async Task KillAsync()
    {
        var p = _process;
        if (p is null) return;
        _process = null;
        try
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            await p.WaitForExitAsync().ConfigureAwait(false);
        }
        finally
        {
            p.Dispose();
        }
    }

    /// <summary>Starts a stopped or killed Azurite again on the same port and data directory.</summary>
    public Task StartAgainAsync(CancellationToken ct = default) => StartProcessAsync(ct);

    /// <summary>Stops Azurite and starts it again on the same port and data directory.</summary>
    public async Task RestartAsync(TimeSpan? downtime = null, CancellationToken ct = default)
    {
        await StopAsync().ConfigureAwait(false);
        if (downtime is { } d) await Task.Delay(d, ct).ConfigureAwait(false);
        await StartProcessAsync(ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        if (_ownsLocation)
        {
            try { Directory.Delete(Location, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    static int FreeLoopbackPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>The azurite-blob executable: <c>$MAGNETON_AZURITE_BIN</c>, or the cached install (made if missing).</summary>
    public static async Task<string> FindExecutableAsync(CancellationToken ct = default)
    {
        var fromEnv = Environment.GetEnvironmentVariable("MAGNETON_AZURITE_BIN");
        if (!string.IsNullOrWhiteSpace(fromEnv))
        {
            if (!File.Exists(fromEnv)) throw new FileNotFoundException($"MAGNETON_AZURITE_BIN={fromEnv} does not exist");
            return fromEnv;
        }
        if (_installed is { } known) return known;
        await InstallLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return _installed ??= await InstallAsync(CacheDirectory, ct).ConfigureAwait(false);
        }
        finally
        {
            InstallLock.Release();
        }
    }

    /// <summary><c>$XDG_CACHE_HOME/magneton/azurite-3.37.0</c>, or <c>~/.cache/magneton/azurite-3.37.0</c>.</summary>
    public static string CacheDirectory
    {
        get
        {
            var cache = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (string.IsNullOrWhiteSpace(cache))
                cache = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(cache, "magneton", $"azurite-{Version}");
        }
    }

    static string BinIn(string dir) => Path.Combine(dir, "node_modules", ".bin", "azurite-blob");

    /// <summary>Installs azurite into <paramref name="dir"/> unless it is there; a lock file keeps other processes out meanwhile.</summary>
    static async Task<string> InstallAsync(string dir, CancellationToken ct)
    {
        var bin = BinIn(dir);
        if (File.Exists(bin)) return bin;
        Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
        var lockPath = dir + ".lock";
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(10);
        FileStream? held = null;
        while (held is null)
        {
            try
            {
                held = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(500, ct).ConfigureAwait(false); // another process is installing
            }
        }
        await using (held)
        {
            if (File.Exists(bin)) return bin;
            Directory.CreateDirectory(dir);
            var psi = new ProcessStartInfo("npm")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var a in new[] { "install", "--prefix", dir, $"azurite@{Version}", "--no-audit", "--no-fund" })
                psi.ArgumentList.Add(a);
            Process p;
            try
            {
                p = Process.Start(psi) ?? throw new InvalidOperationException("npm did not start");
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new InvalidOperationException(
                    $"Azurite tests need Node.js and npm (or MAGNETON_AZURITE_BIN pointing at azurite-blob): {e.Message}", e);
            }
            using (p)
            {
                var stdout = p.StandardOutput.ReadToEndAsync(ct);
                var stderr = p.StandardError.ReadToEndAsync(ct);
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
                cts.CancelAfter(TimeSpan.FromMinutes(5));
                try
                {
                    await p.WaitForExitAsync(cts.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    p.Kill(entireProcessTree: true);
                    throw new TimeoutException($"npm install azurite@{Version} into {dir} took more than 5 minutes");
                }
                var output = (await stdout.ConfigureAwait(false)) + (await stderr.ConfigureAwait(false));
                if (p.ExitCode != 0 || !File.Exists(bin))
                    throw new InvalidOperationException(
                        $"npm install azurite@{Version} into {dir} failed (exit {p.ExitCode}): {output.Trim().Replace('\n', ' ')}");
            }
            return bin;
        }
    }
}

/// <summary>
/// One Azurite shared by the tests of the <see cref="AzuriteCollection"/>: the server in <c>$MAGNETON_AZURITE</c>
/// (a connection string; .ci/run starts one) or else one started for the test run. Tests isolate themselves with
/// their own container names (<see cref="NewContainerName"/>); tests that restart Azurite start their own.
/// </summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    Azurite? _own;

    public string ConnectionString { get; private set; } = "";

    /// <summary>True when the server came from <c>$MAGNETON_AZURITE</c>.</summary>
    public bool External { get; private set; }

    public async Task InitializeAsync()
    {
        var fromEnv = Environment.GetEnvironmentVariable("MAGNETON_AZURITE");
        if (!string.IsNullOrWhiteSpace(fromEnv))
        {
            ConnectionString = fromEnv;
            External = true;
            return;
        }
        _own = await Azurite.StartAsync();
        ConnectionString = _own.ConnectionString;
    }

    public async Task DisposeAsync()
    {
        if (_own is not null) await _own.DisposeAsync();
    }

    /// <summary>A container name no other test uses: "<paramref name="prefix"/>-" and 12 hex digits.</summary>
    public static string NewContainerName(string prefix = "t") => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)];
}

[CollectionDefinition(Name)]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteFixture>
{
    public const string Name = "Azurite";
}
