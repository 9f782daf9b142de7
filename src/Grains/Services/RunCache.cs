using System.Collections.Concurrent;
using System.Diagnostics;
using Magneton.Core;
using Magneton.Core.Bundles;
using Magneton.Core.Runs;

namespace Magneton.Grains;

/// <summary>
/// Silo-local cache of ingested runs, keyed by run id. A run is ingested at most once per silo at a time
/// (concurrent callers share the ingestion); a failed ingestion is not cached. A lookup that misses (another
/// silo ingested it, or it was evicted) re-ingests from the bundle path the caller passes.
/// </summary>
public sealed class RunCache(MagnetonCounters counters)
{
    /// <summary>Runs kept at once; the least recently used is dropped beyond that.</summary>
    public int Capacity { get; init; } = 16;

    sealed class Entry(string path, Lazy<Task<Run>> run)
    {
        public string Path { get; } = path;
        public Lazy<Task<Run>> Run { get; } = run;
        public long LastUse;
    }

    readonly ConcurrentDictionary<string, Entry> _runs = new(StringComparer.Ordinal);
    long _clock;

    public int Count => _runs.Count;

    /// <summary>The cached run if it was ingested (successfully) from that path.</summary>
    public bool TryGet(string runId, string bundlePath, out Run run)
    {
        run = null!;
        if (!_runs.TryGetValue(runId, out var e) || e.Path != RunIds.NormalizePath(bundlePath)) return false;
        if (!e.Run.IsValueCreated || !e.Run.Value.IsCompletedSuccessfully) return false;
        Volatile.Write(ref e.LastUse, Interlocked.Increment(ref _clock));
        run = e.Run.Value.Result;
        return true;
    }

    /// <summary>
    /// The run for this id, ingesting the bundle if this silo does not hold it (or holds it from another path).
    /// Bad input throws <see cref="MagnetonInputException"/> with Core's one-line message.
    /// </summary>
    public async Task<Run> GetOrIngestAsync(string runId, string bundlePath)
    {
        var path = RunIds.NormalizePath(bundlePath);
        Entry entry;
        while (true)
        {
            entry = _runs.GetOrAdd(runId, _ => NewEntry(path));
            if (entry.Path == path) break;
            // Same id, other bundle: the caller's path wins.
            var replacement = NewEntry(path);
            if (_runs.TryUpdate(runId, replacement, entry)) { entry = replacement; break; }
        }
        Volatile.Write(ref entry.LastUse, Interlocked.Increment(ref _clock));
        try
        {
            var run = await entry.Run.Value.ConfigureAwait(false);
            Evict();
            return run;
        }
        catch
        {
            _runs.TryRemove(new KeyValuePair<string, Entry>(runId, entry));
            throw;
        }
    }

    public void Clear() => _runs.Clear();

    Entry NewEntry(string path) =>
        new(path, new Lazy<Task<Run>>(() => Task.Run(() => Ingest(path)), LazyThreadSafetyMode.ExecutionAndPublication));

    Run Ingest(string path)
    {
        counters.Ingested();
        try
        {
            return Pipeline.Ingest(path);
        }
        catch (BundleException e)
        {
            throw new MagnetonInputException(e.Message, e.File, e.Field);
        }
    }

    void Evict()
    {
        while (_runs.Count > Capacity)
        {
            var oldest = _runs.Where(kv => kv.Value.Run.IsValueCreated && kv.Value.Run.Value.IsCompleted)
                              .OrderBy(kv => Volatile.Read(ref kv.Value.LastUse)).FirstOrDefault();
            if (oldest.Value is null || !_runs.TryRemove(oldest)) return;
        }
    }
}
