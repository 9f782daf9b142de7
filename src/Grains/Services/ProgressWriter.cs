using Microsoft.Extensions.Logging;
using Orleans.Storage;

namespace Magneton.Grains;

/// <summary>
/// Writes a long-running grain's persisted progress. <see cref="SaveSoon"/> coalesces: finished steps are
/// written at most every <see cref="Interval"/>, so thousands of finished steps cost a few writes, not thousands
/// (the state holds which steps are done; a step's own result is stored once, by the step's grain). <see cref="SaveNowAsync"/> writes at once (phase
/// changes, the end). Use from the grain's own scheduler only (it is not thread-safe, nor needs to be).
/// </summary>
public sealed class ProgressWriter<T>(IPersistentState<T> state, ILogger log, string owner)
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(200);

    readonly SemaphoreSlim _writeLock = new(1, 1);
    long _changes, _saved;
    DateTime _lastWrite;
    Task? _flush;

    /// <summary>Every change recorded so far is written (none is waiting for <see cref="Interval"/>, none failed).</summary>
    public bool AllSaved => _saved >= _changes;

    /// <summary>Records a change and schedules a write within <see cref="Interval"/>; returns at once.</summary>
    public void SaveSoon()
    {
        ++_changes;
        if (_flush is { IsCompleted: false }) return;
        _flush = FlushAsync();
    }

    async Task FlushAsync()
    {
        // Changes recorded while a write is under way are not in it: write again until none is left, or the last
        // change before a pause (a held or slow step) would stay unsaved until the next one.
        while (_saved < _changes)
        {
            var wait = _lastWrite + Interval - DateTime.UtcNow;
            if (wait > TimeSpan.Zero) await Task.Delay(wait);
            try
            {
                await WriteAsync(_changes);
            }
            catch (Exception e)
            {
                // Progress not saved is only work a resumed grain redoes; the next change tries again.
                GrainLog.ProgressNotSaved(log, e, owner);
                return;
            }
        }
    }

    /// <summary>Writes now; concurrent callers share writes (one returns once a write including its change is done).</summary>
    public Task SaveNowAsync() => WriteAsync(++_changes);

    async Task WriteAsync(long upTo)
    {
        await _writeLock.WaitAsync();
        try
        {
            if (_saved >= upTo) return;
            long current = _changes;
            try
            {
                await state.WriteStateAsync();
            }
            catch (InconsistentStateException e)
            {
                // The store no longer holds what this activation last wrote: it lost or reverted it (Azurite killed
                // -9 forgets its last ~5 s of writes; a directory store restored from a backup). Every later write
                // would fail the same way while the job went on in memory, its progress never saved. This activation
                // holds the newest progress (its steps are deterministic, so even a duplicate activation's would be
                // equal): take the store's current ETag and write it over.
                GrainLog.ProgressLost(log, owner, e.Message);
                var progress = state.State;
                await state.ReadStateAsync();
                state.State = progress;
                await state.WriteStateAsync();
            }
            _saved = current;
            _lastWrite = DateTime.UtcNow;
        }
        finally
        {
            _writeLock.Release();
        }
    }
}
