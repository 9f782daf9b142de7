using System.Diagnostics;
using Magneton.Core;
using Magneton.Core.Matching;
using Orleans.Placement;

namespace Magneton.Grains;

/// <summary>Matches one top-level segment of a job, on whichever silo random placement picked.</summary>
[RandomPlacement]
public sealed class SegmentMatcherGrain(SessionCache sessions, MagnetonCounters counters, IMatchingStepGate gate)
    : Grain, ISegmentMatcherGrain
{
    public async Task<RegionMatch[]> Match(RunRef a, RunRef b, CompareOptions options, Segment segment)
    {
        using var span = MagnetonTelemetry.Source.StartActivity("match.segment");
        span?.SetTag("magneton.segment", this.GetPrimaryKeyString());
        var session = await sessions.GetOrPrepareAsync(a, b, options);
        await gate.BeforeSegmentAsync(this.GetPrimaryKeyString());
        var sw = Stopwatch.StartNew();
        var regions = await Task.Run(() => Pipeline.MatchSegment(session, segment));
        int operators = regions.Sum(r => r.NodesA.Length + r.NodesB.Length);
        MagnetonTelemetry.OperatorsMatched.Add(operators);
        if (sw.Elapsed.TotalSeconds > 0) MagnetonTelemetry.MatchingRate.Record(operators / sw.Elapsed.TotalSeconds);
        counters.SegmentMatched();
        // One call per key: nothing to keep.
        DeactivateOnIdle();
        return regions as RegionMatch[] ?? regions.ToArray();
    }
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
