using System.Diagnostics;
using Magneton.Core;
using Magneton.Core.Matching;
using Microsoft.Extensions.Logging;
using Orleans.Placement;

namespace Magneton.Grains;

/// <summary>A segment's regions as its worker stored them (key "jobId/segmentIndex"); written once.</summary>
[GenerateSerializer, Alias("Magneton.SegmentState")]
public sealed class SegmentState
{
    [Id(0)] public RegionMatch[]? Regions { get; set; }
    /// <summary>The build that matched it (<see cref="WorkIds.CodeVersion"/>); another build matches again.</summary>
    [Id(1)] public string? Code { get; set; }
}

/// <summary>
/// Matches one top-level segment of a job, on whichever silo placement picked (at random, unless the job hints
/// its own silo), and stores the regions once so that a resumed job reads them back instead of matching again.
/// </summary>
[RandomPlacement]
public sealed class SegmentMatcherGrain(
    [PersistentState("segment", GrainServiceRegistration.JobStorage)] IPersistentState<SegmentState> state,
    SessionCache sessions,
    MagnetonCounters counters,
    IMatchingStepGate gate,
    ILogger<SegmentMatcherGrain> log) : Grain, ISegmentMatcherGrain
{
    string Key => this.GetPrimaryKeyString();

    public async Task<RegionMatch[]> Match(RunRef a, RunRef b, CompareOptions options, int segment, CancellationToken cancellationToken)
    {
        if (StoredRegions() is { } stored) return stored;
        using var span = MagnetonTelemetry.Source.StartActivity("match.segment");
        span?.SetTag("magneton.segment", Key);
        var session = await sessions.GetOrPrepareAsync(a, b, options);
        if ((uint)segment >= (uint)session.Segments.Count)
            throw new ArgumentOutOfRangeException(nameof(segment), segment, $"{Key}: the session has {session.Segments.Count} segments");
        await gate.BeforeSegmentAsync(Key);
        cancellationToken.ThrowIfCancellationRequested();
        var sw = Stopwatch.StartNew();
        var found = await Task.Run(() => Pipeline.MatchSegment(session, session.Segments[segment], cancellationToken), cancellationToken);
        var regions = found as RegionMatch[] ?? [.. found];
        int operators = regions.Sum(r => r.NodesA.Length + r.NodesB.Length);
        MagnetonTelemetry.OperatorsMatched.Add(operators);
        if (sw.Elapsed.TotalSeconds > 0) MagnetonTelemetry.MatchingRate.Record(operators / sw.Elapsed.TotalSeconds);
        counters.SegmentMatched();
        state.State.Regions = regions;
        state.State.Code = WorkIds.CodeVersion;
        try
        {
            await state.WriteStateAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Not stored is only work a resumed job redoes; the job has the regions from this answer.
            GrainLog.SegmentNotStored(log, Key, e.Message);
        }
        // One call per key: the regions are stored and returned, the activation need not hold them.
        DeactivateOnIdle();
        return regions;
    }

    public Task<RegionMatch[]?> Stored()
    {
        DeactivateOnIdle();
        return Task.FromResult(StoredRegions());
    }

    public async Task Forget()
    {
        if (state.RecordExists) await state.ClearStateAsync();
        DeactivateOnIdle();
    }

    RegionMatch[]? StoredRegions() => state.State.Code == WorkIds.CodeVersion ? state.State.Regions : null;
}

/// <summary>
/// A point where a segment worker may be held before it matches: fault-injection tests hold workers there to
/// lose a silo in the middle of a job. The silo's default lets everything through at once.
/// </summary>
public interface IMatchingStepGate
{
    Task BeforeSegmentAsync(string segmentKey);
}

internal sealed class OpenGate : IMatchingStepGate
{
    public Task BeforeSegmentAsync(string segmentKey) => Task.CompletedTask;
}
