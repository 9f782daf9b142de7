using System.Runtime.InteropServices;

namespace Magneton.Client;

/// <summary>
/// SIGTERM, SIGINT and SIGQUIT as a graceful stop of a long-running command (silo, worker): the first one cancels
/// <see cref="Token"/> instead of killing the process; a second one is not intercepted (SIGINT twice, or SIGTERM
/// during a hung stop, ends the process the default way).
/// </summary>
public sealed class StopSignals : IDisposable
{
    /// <summary>The exit code of a client command ended by a signal (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;

    readonly CancellationTokenSource _stop;
    readonly PosixSignalRegistration[] _registrations;
    readonly TimeSpan? _exitAfter;
    int _signals;

    /// <param name="exitAfter">
    /// a client command: after the first signal, the process exits with <see cref="Interrupted"/> this long
    /// later even if something still holds it (a grain call, a host stopping), so Ctrl-C always ends it at once
    /// </param>
    public StopSignals(CancellationToken ct, TimeSpan? exitAfter = null)
    {
        _exitAfter = exitAfter;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGQUIT, OnSignal),
        ];
    }

    public CancellationToken Token => _stop.Token;

    void OnSignal(PosixSignalContext context)
    {
        if (Interlocked.Increment(ref _signals) > 1) return;
        context.Cancel = true;
        try { _stop.Cancel(); } catch (ObjectDisposedException) { }
        if (_exitAfter is { } grace)
        {
            // A thread of its own: a starved thread pool (a loaded machine, a client blocked on a frozen cluster)
            // must not delay the exit.
            new Thread(() =>
            {
                Thread.Sleep(grace);
                Console.Error.WriteLine("magneton: interrupted");
                ExitNow(Interrupted);
            }) { IsBackground = true, Name = "magneton exit after signal" }.Start();
        }
    }

    /// <summary>
    /// Ends the process without running exit handlers. Environment.Exit runs them, and a host's ConsoleLifetime
    /// handler waits for its host to stop (up to the 30 s shutdown timeout) — a host whose cluster froze under it
    /// held a Ctrl-C'd client that long (seen in a fresh-clone test run).
    /// </summary>
    static void ExitNow(int code)
    {
        Console.Error.Flush();
        if (OperatingSystem.IsWindows()) Environment.Exit(code);
        PosixExit(code);
    }

    [DllImport("libc", EntryPoint = "_exit")]
    static extern void PosixExit(int code);

    /// <summary>True once a signal arrived.</summary>
    public bool Signalled => Volatile.Read(ref _signals) > 0;

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _stop.Dispose();
    }
}
