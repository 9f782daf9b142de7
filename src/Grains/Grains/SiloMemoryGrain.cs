using Magneton.Core.Scaling;
using Orleans.Placement;

namespace Magneton.Grains;

/// <summary>Reads this silo's memory; random placement, so a caller's placement hint puts it on the silo it names.</summary>
[RandomPlacement]
public sealed class SiloMemoryGrain : Grain, ISiloMemoryGrain
{
    public Task<SiloMemory> Measure(bool resetPeak)
    {
        if (resetPeak) ScalingBenchmark.ResetPeak();
        DeactivateOnIdle();
        return Task.FromResult(new SiloMemory(RuntimeIdentity, ScalingBenchmark.ResidentMb(), ScalingBenchmark.PeakMb()));
    }
}
