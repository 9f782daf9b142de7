using System.Collections.Concurrent;
using System.Diagnostics;
using Magneton.Core;
using Magneton.Core.Bundles;
using Magneton.Core.Runs;
using Magneton.Grains.Storage;

namespace Magneton.Grains;

/// <summary>
/// Silo-local cache of ingested runs, keyed by run id. A run is ingested at most once per silo at a time
/// (concurrent callers share the ingestion); a failed ingestion is not cached. A lookup that misses (another
/// silo ingested it, or it was evicted) ingests again: from the run's local path, or from the bundle store.
/// Bundles are read within <see cref="Limits"/>: a registered <see cref="InputLimits"/> (the embedded silo's are its
/// command line's), else the silo's environment.
/// </summary>
public sealed class RunCache(MagnetonCounters counters, IBundleStore? store = null, LocalBundleRoots? localRoots = null,
    InputLimits? limits = null)
{
    public InputLimits Limits { get; } = limits ?? InputLimits.FromEnvironment();

    public const int DefaultCapacity = 16;

    /// <summary>Runs kept at once; the least recently used is dropped beyond that.</summary>
    public int Capacity { get; init; } = DefaultCapacity;

    sealed class Entry(RunRef source, Lazy<Task<Run>> run)
    {
        public RunRef Source { get; } = source;
        public Lazy<Task<Run>> Run { get; } = run;
        public long LastUse;
    }

    readonly ConcurrentDictionary<string, Entry> _runs = new(StringComparer.Ordinal);
    long _clock;

    public int Count => _runs.Count;

    /// <summary>The cached run if it was ingested (successfully) from that source.</summary>
    public bool TryGet(RunRef source, out Run run)
    {
        run = null!;
        if (!_runs.TryGetValue(source.RunId, out var e) || e.Source != source.Normalized()) return false;
        if (!e.Run.IsValueCreated || !e.Run.Value.IsCompletedSuccessfully) return false;
        Volatile.Write(ref e.LastUse, Interlocked.Increment(ref _clock));
        run = e.Run.Value.Result;
        return true;
    }

    /// <summary>
    /// The run, ingesting the bundle if this silo does not hold it (or holds it from another source).
    /// Bad input throws <see cref="MagnetonInputException"/> with Core's one-line message.
    /// </summary>
    public async Task<Run> GetOrIngestAsync(RunRef source)
    {
        source = source.Normalized();
        Entry entry;
        while (true)
        {
            entry = _runs.GetOrAdd(source.RunId, _ => NewEntry(source));
            if (entry.Source == source) break;
            // Same id, other bundle: the caller's source wins.
            var replacement = NewEntry(source);
            if (_runs.TryUpdate(source.RunId, replacement, entry)) { entry = replacement; break; }
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
            _runs.TryRemove(new KeyValuePair<string, Entry>(source.RunId, entry));
            throw;
        }
    }

    public void Clear() => _runs.Clear();

    /// <summary>
    /// Builds the run of an upload from its staged files, within <see cref="Limits"/>, before the store lists it;
    /// <see cref="Keep"/> caches it once the commit succeeded, so the job that follows does not read the bundle again.
    /// </summary>
    public Run IngestStaged(string directory, string origin)
    {
        using var span = MagnetonTelemetry.Source.StartActivity("ingest.staged");
        using var scope = InputLimits.Use(Limits);
        return Pipeline.Ingest(directory, origin);
    }

    /// <summary>Caches a run ingested from <paramref name="source"/>'s very files (see <see cref="IngestStaged"/>).</summary>
    public void Keep(RunRef source, Run run)
    {
        source = source.Normalized();
        counters.Ingested();
        MagnetonTelemetry.BundlesIngested.Add(1);
        var entry = new Entry(source, new Lazy<Task<Run>>(Task.FromResult(run)));
        Volatile.Write(ref entry.LastUse, Interlocked.Increment(ref _clock));
        _runs[source.RunId] = entry;
        Evict();
    }

    Entry NewEntry(RunRef source) =>
        new(source, new Lazy<Task<Run>>(() => Task.Run(() => IngestAsync(source)), LazyThreadSafetyMode.ExecutionAndPublication));

    async Task<Run> IngestAsync(RunRef source)
    {
        // Says nothing about this host's files: not whether the path exists, nor what is in it.
        if (source.LocalPath is { } local && store is not null && localRoots?.Allows(local) != true)
            throw new MagnetonInputException(
                $"{RunIds.Typed(source.RunId)}: this cluster reads bundles only from its store; upload the bundle (magneton compare --cluster uploads a local directory)");
        using var span = MagnetonTelemetry.Source.StartActivity("ingest.bundle");
        span?.SetTag("magneton.run.id", source.RunId);
        counters.Ingested();
        MagnetonTelemetry.BundlesIngested.Add(1);
        try
        {
            using var scope = InputLimits.Use(Limits);
            if (source.LocalPath is { } path) return Pipeline.Ingest(path);
            if (store is null)
                throw new MagnetonInputException($"{RunIds.Typed(source.RunId)}: this silo has no bundle store (start it with --storage-dir or --blob-connection)");
            var manifest = await store.GetManifestAsync(source.RunId).ConfigureAwait(false)
                ?? throw new MagnetonUnavailableException(
                    $"{RunIds.Typed(source.RunId)}: not in the cluster's store (lost by storage, or never uploaded); upload the bundle again", source.RunId);
            BundleCopy copy;
            try
            {
                copy = await store.OpenAsync(source.RunId).ConfigureAwait(false);
            }
            catch (BundleStoreException e)
            {
                // Listed, but its files are gone or damaged: drop the listing so the bundle can be uploaded again.
                await store.ForgetAsync(source.RunId).ConfigureAwait(false);
                throw new MagnetonUnavailableException(
                    $"{RunIds.Typed(source.RunId)}: the cluster's store listed this run but lost its files ({e.Message}); upload the bundle again", source.RunId);
            }
            using (copy) return Pipeline.Ingest(copy.Directory, manifest.Origin);
        }
        catch (BundleException e)
        {
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw new MagnetonInputException(e.Message, e.File, e.Field);
        }
        catch (BundleStoreException e)
        {
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw new MagnetonInputException($"{RunIds.Typed(source.RunId)}: {e.Message}");
        }
        catch (MagnetonUnavailableException e)
        {
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
            throw;
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
