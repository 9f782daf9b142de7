using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Xunit.Sdk;

namespace Magneton.Tests.Infrastructure;

/// <summary>
/// A long-running magneton child process, <c>magneton silo</c> or <c>magneton worker</c> (<c>dotnet magneton.dll
/// silo ...</c> from the test output directory, where the Client project reference puts magneton.dll). Started with
/// <see cref="StartAsync"/> (a silo) or <see cref="StartWorkerAsync"/>, which return once the process printed its
/// ready line; stopped with SIGTERM by <see cref="StopAsync"/>. The child's environment has the
/// variables that would change its clustering or storage (MAGNETON_POSTGRES, MAGNETON_BLOB_CONNECTION,
/// KUBERNETES_SERVICE_HOST, OTEL_EXPORTER_OTLP_ENDPOINT, MAGNETON_CLUSTER_ID...) removed unless given in env.
/// A silo child runs with the runtime's JIT and GC defaults (set here, so it does not execute itself again with
/// <see cref="Magneton.Client.SiloRuntimeSettings"/>): those settings change only speed and memory, and a suite that starts dozens of
/// silos on a 2-core machine pays for each one's tier-1 recompilation. The test of the settings unsets them.
/// </summary>
public sealed class MagnetonProcess : IAsyncDisposable
{
    // A silo is ready in 3-8 s alone; 30 s was exceeded on a loaded 2-core machine (seven test runs at once).
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(120);
    const string SiloReady = "magneton silo: ready", WorkerReady = "magneton worker: ready";

    static readonly string[] ScrubbedVariables =
    [
        "MAGNETON_POSTGRES", "MAGNETON_BLOB_CONNECTION", "MAGNETON_CLUSTER_ID", "MAGNETON_SERVICE_ID",
        "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "OTEL_EXPORTER_OTLP_ENDPOINT", "XDG_DATA_HOME",
        "MAGNETON_PYTHON", "MAGNETON_PROBE_PATH", "NODE_NAME", "CUDA_VISIBLE_DEVICES", "FAKE_NVML_INIT",
    ];

    readonly Process _process;
    readonly ConcurrentQueue<string> _stderr = new();
    readonly ConcurrentQueue<string> _stdout = new();
    readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    MagnetonProcess(Process process, string command, IReadOnlyList<string> args)
    {
        _process = process;
        Command = command;
        Arguments = args;
    }

    /// <summary>"silo" or "worker".</summary>
    public string Command { get; }

    public IReadOnlyList<string> Arguments { get; }
    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;
    /// <summary>The ready line, e.g. "magneton silo: ready silo=127.0.0.1:11111 gateway=127.0.0.1:30000 cluster=magneton storage=...".</summary>
    public string ReadyLine { get; private set; } = "";
    /// <summary>From the start of the process to its ready line.</summary>
    public TimeSpan StartTime { get; private set; }
    public IReadOnlyCollection<string> StdoutLines => _stdout;
    public IPEndPoint SiloEndpoint => IPEndPoint.Parse(Field("silo"));
    public IPEndPoint GatewayEndpoint => IPEndPoint.Parse(Field("gateway"));

    /// <summary>A field of the ready line ("silo", "gateway", "cluster"; "storage" runs to the end of the line).</summary>
    public string Field(string name)
    {
        string key = " " + name + "=";
        int i = ReadyLine.IndexOf(key, StringComparison.Ordinal);
        if (i < 0) throw new InvalidOperationException($"no {name}= in ready line '{ReadyLine}'");
        int start = i + key.Length;
        if (name == "storage") return ReadyLine[start..];
        int end = ReadyLine.IndexOf(' ', start);
        return end < 0 ? ReadyLine[start..] : ReadyLine[start..end];
    }

    public static string MagnetonDll => Path.Combine(AppContext.BaseDirectory, "magneton.dll");

    /// <summary>The dotnet muxer that runs the tests (DOTNET_HOST_PATH is set by the dotnet CLI), else "dotnet".</summary>
    static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } p && File.Exists(p) ? p : "dotnet";

    /// <summary>
    /// Starts a client command (<c>magneton compare ...</c>) and returns at once; see <see cref="Stderr"/>,
    /// <see cref="SignalAsync"/> and <see cref="WaitForExitAsync"/>.
    /// </summary>
    public static MagnetonProcess StartClient(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? env = null)
    {
        var argList = args.ToList();
        var (_, handle) = Create(argList[0], argList.Skip(1).ToList(), readyPrefix: null, env);
        handle.ReadyLine = "";
        return handle;
    }

    /// <summary>What the process printed on stderr so far (the last 400 lines).</summary>
    public string Stderr => string.Join('\n', _stderr);
    public string Stdout => string.Join('\n', _stdout);

    /// <summary>Sends a signal (2: SIGINT, as Ctrl-C does; 15: SIGTERM).</summary>
    public void Signal(int signal)
    {
        if (SendSignal(_process.Id, signal) != 0 && !_process.HasExited)
            throw new InvalidOperationException($"kill -{signal} {_process.Id} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Waits for the process to end; null if it is still running after <paramref name="timeout"/>.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        _process.WaitForExit(); // drains the redirected output
        return _process.ExitCode;
    }

        /// <summary>Starts <c>magneton silo &lt;args&gt;</c> and waits (up to <see cref="ReadyTimeout"/>) for its ready line.</summary>
    public static Task<MagnetonProcess> StartAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? env = null) =>
        StartAsync("silo", SiloReady, args, env);

    /// <summary>Starts <c>magneton worker &lt;args&gt;</c> and waits (up to <see cref="ReadyTimeout"/>) for its ready line.</summary>
    public static Task<MagnetonProcess> StartWorkerAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? env = null) =>
        StartAsync("worker", WorkerReady, args, env);

    static async Task<MagnetonProcess> StartAsync(string command, string readyPrefix, IEnumerable<string> args,
        IReadOnlyDictionary<string, string?>? env)
    {
        var argList = args.ToList();
        var sw = Stopwatch.StartNew();
        var (process, silo) = Create(command, argList, readyPrefix, env);

        var done = await Task.WhenAny(silo._ready.Task, Task.Delay(ReadyTimeout)).ConfigureAwait(false);
        if (done == silo._ready.Task && silo._ready.Task.IsCompletedSuccessfully)
        {
            silo.ReadyLine = silo._ready.Task.Result;
            silo.StartTime = sw.Elapsed;
            return silo;
        }

        string why;
        if (process.HasExited)
        {
            process.WaitForExit(); // drains the output
            why = $"exited with code {process.ExitCode} before its ready line";
        }
        else
        {
            why = $"printed no ready line within {ReadyTimeout.TotalSeconds:0} s";
            silo.Kill();
        }
        throw new XunitException($"magneton {command} {string.Join(' ', argList)}: {why}.\nstdout:\n{string.Join('\n', silo._stdout)}\nstderr (tail):\n{silo.StderrTail()}");
    }

    static (Process, MagnetonProcess) Create(string command, List<string> argList, string? readyPrefix,
        IReadOnlyDictionary<string, string?>? env)
    {
        var psi = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        psi.ArgumentList.Add(MagnetonDll);
        psi.ArgumentList.Add(command);
        foreach (var a in argList) psi.ArgumentList.Add(a);
        foreach (var name in ScrubbedVariables) psi.Environment.Remove(name);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_TC_CallCountingDelayMs"] = "100"; // the runtime's defaults (see the summary)
        psi.Environment["DOTNET_GCConserveMemory"] = "0";
        psi.Environment["DOTNET_TieredPGO"] = "1";
        if (env is not null)
            foreach (var (k, v) in env)
                if (v is null) psi.Environment.Remove(k); else psi.Environment[k] = v;

        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var silo = new MagnetonProcess(process, command, argList);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            silo._stdout.Enqueue(e.Data);
            if (readyPrefix is not null && e.Data.StartsWith(readyPrefix, StringComparison.Ordinal)) silo._ready.TrySetResult(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            silo._stderr.Enqueue(e.Data);
            while (silo._stderr.Count > 400 && silo._stderr.TryDequeue(out string? _)) { }
        };
        process.Exited += (_, _) => silo._ready.TrySetException(new InvalidOperationException("exited"));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, silo);
    }

    /// <summary>
    /// Starts a silo on free loopback ports (retried with other ports if one was taken meanwhile).
    /// <paramref name="args"/> receives (siloPort, gatewayPort) and returns the other arguments.
    /// </summary>
    public static async Task<MagnetonProcess> StartOnFreePortsAsync(Func<int, int, IEnumerable<string>> args,
        IReadOnlyDictionary<string, string?>? env = null)
    {
        for (int attempt = 1; ; attempt++)
        {
            var ports = FreePorts(2);
            try
            {
                return await StartAsync(
                    new[] { "--silo-port", ports[0].ToString(), "--gateway-port", ports[1].ToString() }.Concat(args(ports[0], ports[1])),
                    env).ConfigureAwait(false);
            }
            catch (XunitException e) when (attempt < 3 && e.Message.Contains("already in use", StringComparison.Ordinal))
            {
            }
        }
    }

    /// <summary>The last lines of the silo's stderr (its log).</summary>
    public string StderrTail(int lines = 60) => string.Join('\n', _stderr.TakeLast(lines));

    /// <summary>Sends SIGTERM and waits for the process to exit; returns its exit code. Kills it and throws after <paramref name="timeout"/>.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(10);
        if (!_process.HasExited)
        {
            if (SendSignal(_process.Id, SIGTERM) != 0 && !_process.HasExited)
                throw new InvalidOperationException($"kill -TERM {_process.Id} failed: errno {Marshal.GetLastPInvokeError()}");
            using var cts = new CancellationTokenSource(limit);
            try
            {
                await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Kill();
                throw new XunitException($"magneton {Command} (pid {_process.Id}) did not exit within {limit.TotalSeconds:0} s of SIGTERM.\nstderr (tail):\n{StderrTail()}");
            }
        }
        _process.WaitForExit(); // drains the redirected output
        return _process.ExitCode;
    }

    /// <summary>SIGKILL, no clean stop.</summary>
    public void Kill()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        try { await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); } catch (TimeoutException) { }
        _process.Dispose();
    }

    /// <summary><paramref name="count"/> distinct free loopback TCP ports (held open together while picked).</summary>
    public static int[] FreePorts(int count)
    {
        var listeners = new List<TcpListener>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var l = new TcpListener(IPAddress.Loopback, 0);
                l.Start();
                listeners.Add(l);
            }
            return listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (var l in listeners) l.Stop();
        }
    }

    public static int FreePort() => FreePorts(1)[0];

    const int SIGTERM = 15;

    /// <summary>
    /// Whether SIGINT is ignored in this process, and so in every child it starts: a test run started in the
    /// background of a non-interactive shell (nohup, `cmd &amp;`) ignores it, and .NET then leaves it ignored in
    /// the child (it respects an inherited SIG_IGN for SIGINT and SIGQUIT), so Ctrl-C cannot reach the client.
    /// </summary>
    public static bool InterruptIgnored()
    {
        if (!OperatingSystem.IsLinux()) return false;
        var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (SIGINT - 1))) != 0;
    }

    /// <summary>
    /// Gives SIGINT its default disposition again where the test run inherited it ignored (see
    /// <see cref="InterruptIgnored"/>), so that clients this process starts receive Ctrl-C as from a terminal.
    /// </summary>
    public static void RestoreDefaultInterrupt()
    {
        if (InterruptIgnored()) SetSignal(SIGINT, IntPtr.Zero /* SIG_DFL */);
    }

    const int SIGINT = 2;

    [DllImport("libc", EntryPoint = "signal", SetLastError = true)]
    static extern IntPtr SetSignal(int signal, IntPtr handler);

    // DllImport, not LibraryImport: the generated stub needs AllowUnsafeBlocks, which this project does not set.
    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    static extern int SendSignal(int pid, int signal);
}
