using System.Collections.Concurrent;
using Magneton.Core;
using Magneton.Core.Matching;

namespace Magneton.Grains;

/// <summary>
/// Silo-local cache of prepared match sessions, keyed by (run A, run B, options). The job grain prepares the
/// session; segment and diagnosis grains on the same silo reuse it, and rebuild it (ingesting the runs if
/// needed) on a silo that has not seen it. Preparation is deterministic, so every silo gets the same segments.
/// </summary>
public sealed class SessionCache(RunCache runs, MagnetonCounters counters)
{
    public int Capacity { get; init; } = 8;

    readonly record struct Key(RunRef A, RunRef B, CompareOptions Options);

    readonly ConcurrentDictionary<Key, Lazy<Task<MatchSession>>> _sessions = new();
    readonly ConcurrentQueue<Key> _order = new();

    public int Count => _sessions.Count;

    public async Task<MatchSession> GetOrPrepareAsync(RunRef a, RunRef b, CompareOptions options)
    {
        var key = new Key(a.Normalized(), b.Normalized(), options);
        var lazy = _sessions.GetOrAdd(key, k =>
        {
            _order.Enqueue(k);
            return new Lazy<Task<MatchSession>>(() => PrepareAsync(k), LazyThreadSafetyMode.ExecutionAndPublication);
        });
        try
        {
            var session = await lazy.Value.ConfigureAwait(false);
            Evict();
            return session;
        }
        catch
        {
            _sessions.TryRemove(new KeyValuePair<Key, Lazy<Task<MatchSession>>>(key, lazy));
            throw;
        }
    }

    public void Clear() => _sessions.Clear();

    async Task<MatchSession> PrepareAsync(Key k)
    {
        var a = runs.GetOrIngestAsync(k.A);
        var b = runs.GetOrIngestAsync(k.B);
        var runA = await a.ConfigureAwait(false);
        var runB = await b.ConfigureAwait(false);
        counters.Prepared();
        return await Task.Run(() => Pipeline.Prepare(runA, runB, k.Options)).ConfigureAwait(false);
    }

    void Evict()
    {
        while (_sessions.Count > Capacity && _order.TryDequeue(out var oldest))
            _sessions.TryRemove(oldest, out _);
    }
}
