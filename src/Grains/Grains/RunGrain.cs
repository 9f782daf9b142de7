using System.Diagnostics;
using Magneton.Core.Runs;

namespace Magneton.Grains;

[GenerateSerializer, Alias("Magneton.RunState")]
public sealed class RunState
{
    [Id(0)] public string? BundlePath { get; set; }
    [Id(1)] public RunSummary? Summary { get; set; }
}

public sealed class RunGrain(
    [PersistentState("run", GrainServiceRegistration.RunStorage)] IPersistentState<RunState> state,
    RunCache runs) : Grain, IRunGrain
{
    public async Task<RunSummary> Ingest(string bundlePath)
    {
        var path = RunIds.NormalizePath(bundlePath);
        if (state.State.Summary is { } known && state.State.BundlePath == path && runs.TryGet(this.GetPrimaryKeyString(), path, out _))
            return known;

        var sw = Stopwatch.StartNew();
        var run = await runs.GetOrIngestAsync(this.GetPrimaryKeyString(), path);
        var summary = Summarize(this.GetPrimaryKeyString(), path, run, sw.Elapsed.TotalMilliseconds);
        state.State.BundlePath = path;
        state.State.Summary = summary;
        await state.WriteStateAsync();
        return summary;
    }

    public async Task<RunSummary> GetSummary()
    {
        if (state.State.Summary is { } s) return s;
        if (state.State.BundlePath is { } path) return await Ingest(path);
        throw new InvalidOperationException($"run '{this.GetPrimaryKeyString()}' has not been ingested");
    }

    internal static RunSummary Summarize(string runId, string path, Run run, double ingestMs) => new(
        RunId: runId,
        System: run.System,
        BundlePath: path,
        Operators: run.Operators.Length,
        ComputingOperators: run.ComputingOperatorCount,
        IterationEnergyJ: run.Energy.IterationEnergyJ,
        IterationSeconds: run.Energy.IterationSeconds,
        OperatorEnergyJ: run.Energy.OperatorEnergyJ,
        OperatorGpuSeconds: run.Energy.OperatorGpuSeconds,
        ReplayShare: run.Energy.ReplayShare,
        Closure: run.Energy.Closure,
        Device: run.Bundle.Kineto.DeviceName,
        IngestMs: ingestMs);
}
