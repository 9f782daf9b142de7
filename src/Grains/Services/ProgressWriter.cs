using Microsoft.Extensions.Logging;

namespace Magneton.Grains;

/// <summary>
/// Writes a long-running grain's persisted progress. <see cref="SaveSoonAsync"/> coalesces: finished steps are
/// written at most every <see cref="Interval"/>, because the state holds every result so far and a write per
/// step would cost quadratic time over thousands of steps. <see cref="SaveNowAsync"/> writes at once (phase
/// changes, the end). Use from the grain's own scheduler only (it is not thread-safe, nor needs to be).
/// </summary>
public sealed class ProgressWriter<T>(IPersistentState<T> state, ILogger log, string owner)
{
    public static TimeSpan Interval { get; set; } = TimeSpan.FromMilliseconds(200);

    readonly SemaphoreSlim _writeLock = new(1, 1);
    long _changes, _saved;
    DateTime _lastWrite;
    Task? _flush;

    /// <summary>Records a change and schedules a write within <see cref="Interval"/>; returns at once.</summary>
    public void SaveSoon()
    {
        ++_changes;
        if (_flush is { IsCompleted: false }) return;
        _flush = FlushAsync();
    }

    async Task FlushAsync()
    {
        var wait = _lastWrite + Interval - DateTime.UtcNow;
        if (wait > TimeSpan.Zero) await Task.Delay(wait);
        try
        {
            await WriteAsync(_changes);
        }
        catch (Exception e)
        {
            // Progress not saved is only work a resumed grain redoes; the next write tries again.
            log.LogWarning(e, "{Owner}: saving progress failed", owner);
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
            await state.WriteStateAsync();
            _saved = current;
            _lastWrite = DateTime.UtcNow;
        }
        finally
        {
            _writeLock.Release();
        }
    }
}

/// <summary>Which failures of a grain call are worth retrying: the cluster moving, not the input being wrong.</summary>
public static class Transient
{
    public static bool Is(Exception e) => e switch
    {
        MagnetonInputException or ArgumentException => false,
        AggregateException a => a.InnerExceptions.All(Is),
        TimeoutException or OrleansException or System.Net.Sockets.SocketException or IOException => true,
        _ => e.InnerException is { } inner && Is(inner),
    };

    /// <summary>
    /// Runs a step, retrying with backoff (0.25 s doubling) while it fails for a reason other than bad input:
    /// typically the silo that held the callee was lost, and the retry activates the callee on another one.
    /// </summary>
    public static async Task<T> RetryAsync<T>(Func<Task<T>> call, ILogger log, string what, int attempts = 6)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (attempt < attempts && !IsInput(e))
            {
                var delay = TimeSpan.FromMilliseconds(250 * (1 << (attempt - 1)));
                log.LogWarning("{What} failed ({Error}); retry {Attempt} in {Delay} ms",
                    what, e.GetType().Name + ": " + e.Message, attempt, delay.TotalMilliseconds);
                await Task.Delay(delay);
            }
        }
    }

    public static Task RetryAsync(Func<Task> call, ILogger log, string what) =>
        RetryAsync<bool>(async () => { await call(); return true; }, log, what);

    static bool IsInput(Exception e) => e is MagnetonInputException
        || e is AggregateException a && a.Flatten().InnerExceptions.Any(x => x is MagnetonInputException);
}
