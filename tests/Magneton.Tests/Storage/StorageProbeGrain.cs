using Magneton.Grains;

namespace Magneton.Tests.Storage;

/// <summary>Test state with what Magneton's grain states hold: strings, records, arrays, dates, NaN.</summary>
[GenerateSerializer, Alias("Magneton.Tests.StorageProbeState")]
public sealed class StorageProbeState
{
    [Id(0)] public string? Path { get; set; }
    [Id(1)] public BundleManifest? Manifest { get; set; }
    [Id(2)] public StorageProbeRecord? Record { get; set; }
    [Id(3)] public int Writes { get; set; }
}

[GenerateSerializer, Alias("Magneton.Tests.StorageProbeRecord")]
public sealed record StorageProbeRecord(
    [property: Id(0)] string Name,
    [property: Id(1)] double Ratio,
    [property: Id(2)] long[] Values);

[Alias("Magneton.Tests.IStorageProbeGrain")]
public interface IStorageProbeGrain : IGrainWithStringKey
{
    [Alias("Save")] Task<int> Save(string path, BundleManifest? manifest, StorageProbeRecord? record);
    [Alias("Load")] Task<StorageProbeState> Load();
}

/// <summary>Keeps its state under Magneton's run storage name, and a copy under the job storage name.</summary>
public sealed class StorageProbeGrain(
    [PersistentState("probe", GrainServiceRegistration.RunStorage)] IPersistentState<StorageProbeState> run,
    [PersistentState("probejob", GrainServiceRegistration.JobStorage)] IPersistentState<StorageProbeState> job) : Grain, IStorageProbeGrain
{
    public async Task<int> Save(string path, BundleManifest? manifest, StorageProbeRecord? record)
    {
        foreach (var s in new[] { run, job })
        {
            s.State.Path = path;
            s.State.Manifest = manifest;
            s.State.Record = record;
            s.State.Writes++;
            await s.WriteStateAsync();
        }
        return run.State.Writes;
    }

    public Task<StorageProbeState> Load() => Task.FromResult(run.State);
}
