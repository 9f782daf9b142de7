using Magneton.Core;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Orleans.Placement;

namespace Magneton.Grains;

/// <summary>Diagnoses one finding of one job (key "jobId/findingIndex"), on a silo random placement picked.</summary>
[RandomPlacement]
public sealed class DiagnosisGrain(SessionCache sessions, MagnetonCounters counters) : Grain, IDiagnosisGrain
{
    public async Task<CauseReport> Diagnose(RunRef a, RunRef b, CompareOptions options, RegionMatch[] regions, Finding finding,
        CancellationToken cancellationToken)
    {
        using var span = MagnetonTelemetry.Source.StartActivity("diagnose.finding");
        span?.SetTag("magneton.finding", this.GetPrimaryKeyString());
        var session = await sessions.GetOrPrepareAsync(a, b, options);
        cancellationToken.ThrowIfCancellationRequested();
        var cause = await Task.Run(() => Pipeline.Diagnose(session, regions, finding), cancellationToken);
        counters.Diagnosed();
        DeactivateOnIdle();
        return cause;
    }
}
