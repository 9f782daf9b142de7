using System.Diagnostics;
using System.Security.Cryptography;
using Magneton.Core.Bundles;
using Magneton.Core.Runs;
using Magneton.Grains.Storage;

namespace Magneton.Grains;

[GenerateSerializer, Alias("Magneton.RunState")]
public sealed class RunState
{
    [Id(0)] public RunRef? Source { get; set; }
    [Id(1)] public RunSummary? Summary { get; set; }
    [Id(2)] public BundleManifest? Manifest { get; set; }
}

public sealed class RunGrain(
    [PersistentState("run", GrainServiceRegistration.RunStorage)] IPersistentState<RunState> state,
    RunCache runs,
    IBundleStore? store = null) : Grain, IRunGrain
{
    readonly IBundleStore? _store = store;
    Upload? _upload;

    string RunId => this.GetPrimaryKeyString();

    public async Task<RunSummary> Ingest(RunRef run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (run.RunId != RunId)
            throw new ArgumentException($"run grain {RunId} was asked to ingest {run.RunId}");
        run = run.Normalized();
        if (state.State.Summary is { } known && state.State.Source == run && runs.TryGet(run, out _))
            return known;

        var sw = Stopwatch.StartNew();
        // The ingestion itself is shared with other callers of this silo's cache: a cancelled caller stops waiting for it.
        var model = await runs.GetOrIngestAsync(run).WaitAsync(cancellationToken);
        return await RememberAsync(run, model, sw.Elapsed.TotalMilliseconds);
    }

    async Task<RunSummary> RememberAsync(RunRef run, Run model, double ingestMs)
    {
        var summary = Summarize(RunId, model, ingestMs);
        if (state.State.Source != run || state.State.Summary != summary with { IngestMs = state.State.Summary?.IngestMs ?? 0 })
        {
            state.State.Source = run;
            state.State.Summary = summary;
            await state.WriteStateAsync();
        }
        return summary;
    }

    public async Task<RunSummary> GetSummary()
    {
        if (state.State.Summary is { } s) return s;
        if (state.State.Source is { } source) return await Ingest(source, CancellationToken.None);
        throw new InvalidOperationException($"run '{RunId}' has not been ingested");
    }

    public async Task<BundleManifest?> GetManifest()
    {
        // The store's own answer: a run it lost is not offered as stored (the client then uploads it again).
        return _store is null ? state.State.Manifest : await _store.GetManifestAsync(RunId);
    }

    public async Task<bool> BeginUpload(BundleManifest manifest)
    {
        var store = RequireStore();
        CheckManifest(manifest);
        if (await store.GetManifestAsync(RunId) is not null)
        {
            _upload = null;
            return true;
        }
        // A fresh start: whatever an interrupted upload left is dropped, so chunks and hashes start from zero.
        _upload?.Dispose();
        await store.AbortUploadAsync(RunId);
        _upload = new Upload(manifest);
        return false;
    }

    public async Task UploadChunk(string file, long offset, byte[] data)
    {
        var upload = _upload ?? throw new MagnetonInputException(
            $"{RunIds.Typed(RunId)}: no upload in progress (it was interrupted; start again with BeginUpload)");
        var f = upload.File(file) ?? throw new MagnetonInputException($"{file}: upload: not in the manifest of {RunIds.Typed(RunId)}");
        if (data.Length > UploadLimits.ChunkBytes)
            throw new MagnetonInputException($"{file}: upload: chunk of {data.Length} bytes exceeds {UploadLimits.ChunkBytes}");
        if (offset + data.Length <= f.Received) return; // a retried chunk that already arrived
        if (offset != f.Received)
            throw new MagnetonInputException($"{file}: upload: chunk at offset {offset}, expected {f.Received} (chunks go in order)");
        if (offset + data.Length > f.Entry.Length)
            throw new MagnetonInputException($"{file}: upload: more than the {f.Entry.Length} bytes the manifest declares");
        await RequireStore().WriteChunkAsync(RunId, file, offset, data);
        f.Append(data);
    }

    public async Task<RunSummary> CompleteUpload()
    {
        var upload = _upload ?? throw new MagnetonInputException($"{RunIds.Typed(RunId)}: no upload in progress");
        foreach (var f in upload.Files.Values)
        {
            if (f.Received != f.Entry.Length)
                throw new MagnetonInputException($"{f.Entry.Name}: upload: {f.Received} of {f.Entry.Length} bytes arrived");
            if (f.Sha256() != f.Entry.Sha256)
                throw new MagnetonInputException($"{f.Entry.Name}: upload: sha256 does not match the manifest (corrupted in transit)");
        }
        var manifest = upload.Manifest with { StoredAt = DateTimeOffset.UtcNow };
        // Ingested by the analysis' own reader before it is listed: a bundle it refuses is never stored, and the run
        // it built is the one the jobs use (the bundle is not read again).
        Run? run = null;
        double ingestMs = 0;
        await RequireStore().CommitAsync(manifest, dir => Task.Run(() =>
        {
            try
            {
                var sw = Stopwatch.StartNew();
                run = runs.IngestStaged(dir, manifest.Origin);
                ingestMs = sw.Elapsed.TotalMilliseconds;
            }
            catch (BundleException e)
            {
                throw new MagnetonInputException(e.Message.Replace(dir, manifest.Origin, StringComparison.Ordinal), e.File, e.Field);
            }
        }));
        upload.Dispose();
        _upload = null;
        MagnetonTelemetry.BundlesUploaded.Add(1);
        var stored = RunRef.Stored(RunId);
        runs.Keep(stored, run!);
        state.State.Manifest = manifest;
        await state.WriteStateAsync();
        return await RememberAsync(stored, run!, ingestMs);
    }

    IBundleStore RequireStore() => _store ?? throw new MagnetonInputException(
        $"{RunIds.Typed(RunId)}: this cluster has no bundle store (start the silos with --storage-dir or --blob-connection)");

    void CheckManifest(BundleManifest m)
    {
        if (m.RunId != RunId)
            throw new MagnetonInputException($"{RunIds.Typed(RunId)}: upload: the manifest is for {RunIds.Typed(m.RunId)}");
        foreach (var f in m.Files)
        {
            if (!BundleFiles.IsKnown(f.Name))
                throw new MagnetonInputException($"{f.Name}: upload: not a file of a {BundleFiles.Format} bundle");
            if (f.Length < 0 || f.Length > BundleLimits.MaxFileBytes(f.Name))
                throw new MagnetonInputException(
                    $"{f.Name}: upload: length {f.Length} is over the limit of {BundleLimits.Describe(BundleLimits.MaxFileBytes(f.Name))}");
            if (f.Sha256.Length != 64 || !f.Sha256.All(Uri.IsHexDigit))
                throw new MagnetonInputException($"{f.Name}: upload: sha256 is not 64 hex digits");
        }
        if (m.Files.Select(f => f.Name).Distinct().Count() != m.Files.Length)
            throw new MagnetonInputException($"{RunIds.Typed(RunId)}: upload: a file is listed twice");
        foreach (var required in BundleFiles.Required)
            if (m.Files.All(f => f.Name != required))
                throw new MagnetonInputException($"{required}: upload: is missing from the bundle");
        if (BundleManifest.RunIdOf(m.Files) != RunId)
            throw new MagnetonInputException($"{RunIds.Typed(RunId)}: upload: the run id does not match the files' hashes");
    }

    internal static RunSummary Summarize(string runId, Run run, double ingestMs) => new(
        RunId: runId,
        System: run.System,
        BundlePath: run.BundlePath,
        Operators: run.Operators.Length,
        ComputingOperators: run.ComputingOperatorCount,
        IterationEnergyJ: run.Energy.IterationEnergyJ,
        IterationSeconds: run.Energy.IterationSeconds,
        OperatorEnergyJ: run.Energy.OperatorEnergyJ,
        OperatorGpuSeconds: run.Energy.OperatorGpuSeconds,
        ReplayShare: run.Energy.ReplayShare,
        Closure: run.Energy.Closure,
        Device: run.Bundle.Measure.Node?.Gpu ?? run.Bundle.Kineto.DeviceName,
        IngestMs: ingestMs)
    {
        JobSignature = Core.Audits.AuditAnalysis.JobSignature(run),
        Host = run.Bundle.Measure.Node?.Host ?? run.System,
        Driver = run.Bundle.Measure.Node?.Driver,
        PowerLimitW = run.Bundle.Measure.Node?.PowerLimitW,
    };

    /// <summary>An upload in progress: how much of each file arrived, and its running hash.</summary>
    sealed class Upload(BundleManifest manifest) : IDisposable
    {
        public BundleManifest Manifest { get; } = manifest;
        public Dictionary<string, FileProgress> Files { get; } =
            manifest.Files.ToDictionary(f => f.Name, f => new FileProgress(f), StringComparer.Ordinal);

        public FileProgress? File(string name) => Files.GetValueOrDefault(name);

        public void Dispose()
        {
            foreach (var f in Files.Values) f.Dispose();
        }
    }

    sealed class FileProgress(BundleFileEntry entry) : IDisposable
    {
        readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public BundleFileEntry Entry { get; } = entry;
        public long Received { get; private set; }

        public void Append(byte[] data)
        {
            _hash.AppendData(data);
            Received += data.Length;
        }

        public string Sha256() => Convert.ToHexStringLower(_hash.GetCurrentHash());
        public void Dispose() => _hash.Dispose();
    }
}

/// <summary>Lists the bundle store; stateless, any silo answers.</summary>
[Orleans.Concurrency.StatelessWorker]
public sealed class CatalogGrain(IBundleStore? store = null) : Grain, ICatalogGrain
{
    readonly IBundleStore? _store = store;

    public async Task<BundleManifest[]> ListRuns()
    {
        if (_store is null) return [];
        var list = new List<BundleManifest>();
        await foreach (var m in _store.ListAsync()) list.Add(m);
        return [.. list.OrderBy(m => m.StoredAt).ThenBy(m => m.RunId, StringComparer.Ordinal)];
    }

    public Task<string?> StoreLocation() => Task.FromResult(_store?.Location);
}
