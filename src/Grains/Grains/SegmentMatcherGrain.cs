using System.Diagnostics;
using Magneton.Core;
using Magneton.Core.Matching;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Magneton.Grains;

/// <summary>A worker's segments' regions as it stored them (key "jobId/workerIndex"); written once.</summary>
[GenerateSerializer, Alias("Magneton.SegmentState")]
public sealed class SegmentState
{
    [Id(0)] public RegionMatch[]? Regions { get; set; }
    /// <summary>The build that matched it (<see cref="WorkIds.CodeVersion"/>); another build matches again.</summary>
    [Id(1)] public string? Code { get; set; }
    /// <summary>The first segment matched and how many: a job that deals its segments otherwise matches again.</summary>
    [Id(2)] public int First { get; set; }
    [Id(3)] public int Count { get; set; }
}

/// <summary>
/// Matches a run of consecutive top-level segments of a job, on whichever silo placement picked (at random, unless
/// the job hints its own silo), and stores the regions once so that a resumed job reads them back instead of matching again.
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

    public async Task<Immutable<RegionMatch[]>> Match(RunRef a, RunRef b, CompareOptions options, int first, int count, CancellationToken cancellationToken)
    {
        if (StoredRegions(first, count) is { } stored) return new(stored);
        using var span = MagnetonTelemetry.Source.StartActivity("match.segment");
        span?.SetTag("magneton.segment", Key);
        span?.SetTag("magneton.segments", count);
        var session = await sessions.GetOrPrepareAsync(a, b, options);
        if (first < 0 || count < 1 || first > session.Segments.Count - count)
            throw new ArgumentOutOfRangeException(nameof(first), first, $"{Key}: segments {first}+{count} of a session of {session.Segments.Count}");
        await gate.BeforeSegmentAsync(Key, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();
        var sw = Stopwatch.StartNew();
        var regions = await Task.Run(() =>
        {
            var found = new List<RegionMatch>();
            for (int i = first; i < first + count; i++)
                found.AddRange(Pipeline.MatchSegment(session, session.Segments[i], cancellationToken));
            return found.ToArray();
        }, cancellationToken);
        int operators = regions.Sum(r => r.NodesA.Length + r.NodesB.Length);
        MagnetonTelemetry.OperatorsMatched.Add(operators);
        if (sw.Elapsed.TotalSeconds > 0) MagnetonTelemetry.MatchingRate.Record(operators / sw.Elapsed.TotalSeconds);
        counters.AddSegmentsMatched(count);
        state.State.Regions = regions;
        state.State.Code = WorkIds.CodeVersion;
        state.State.First = first;
        state.State.Count = count;
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
        return new(regions);
    }

    public Task<Immutable<RegionMatch[]?>> Stored(int first, int count)
    {
        DeactivateOnIdle();
        return Task.FromResult(new Immutable<RegionMatch[]?>(StoredRegions(first, count)));
    }

    public async Task Forget()
    {
        if (state.RecordExists) await state.ClearStateAsync();
        DeactivateOnIdle();
    }

    RegionMatch[]? StoredRegions(int first, int count) =>
        state.State is { Code: var code, First: var f, Count: var c } && code == WorkIds.CodeVersion && f == first && c == count
            ? state.State.Regions : null;
}

/// <summary>
/// A point where a segment worker may be held before it matches: fault-injection tests hold workers there to
/// lose a silo in the middle of a job. The silo's default lets everything through at once.
/// </summary>
public interface IMatchingStepGate
{
    /// <summary>Returns when the worker may match; a held worker whose call is cancelled stops waiting (throws).</summary>
    Task BeforeSegmentAsync(string segmentKey, CancellationToken cancellationToken);
}

internal sealed class OpenGate : IMatchingStepGate
{
    public Task BeforeSegmentAsync(string segmentKey, CancellationToken cancellationToken) => Task.CompletedTask;
}
