using System.Runtime.InteropServices;

namespace Magneton.Client;

/// <summary>
/// SIGTERM, SIGINT and SIGQUIT as a graceful stop of a long-running command (silo, worker): the first one cancels
/// <see cref="Token"/> instead of killing the process; a second one is not intercepted (SIGINT twice, or SIGTERM
/// during a hung stop, ends the process the default way).
/// </summary>
public sealed class StopSignals : IDisposable
{
    readonly CancellationTokenSource _stop;
    readonly PosixSignalRegistration[] _registrations;
    int _signals;

    public StopSignals(CancellationToken ct)
    {
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
    }

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _stop.Dispose();
    }
}
