using Magneton.Core;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;

namespace Magneton.Grains;

/// <summary>Diagnoses one finding of one job (key "jobId/findingId").</summary>
public sealed class DiagnosisGrain(SessionCache sessions, MagnetonCounters counters) : Grain, IDiagnosisGrain
{
    public async Task<CauseReport> Diagnose(string runIdA, string bundleA, string runIdB, string bundleB,
        CompareOptions options, RegionMatch[] regions, Finding finding)
    {
        var session = await sessions.GetOrPrepareAsync(runIdA, bundleA, runIdB, bundleB, options);
        var cause = await Task.Run(() => Pipeline.Diagnose(session, regions, finding));
        counters.Diagnosed();
        // Nothing to keep: the job asks each finding once.
        DeactivateOnIdle();
        return cause;
    }
}
