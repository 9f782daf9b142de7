using Magneton.Core;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;

namespace Magneton.Grains;

/// <summary>Diagnoses one finding (key: "jobId/findingIndex"); placed at random, pure.</summary>
[Alias("Magneton.IDiagnosisGrain")]
public interface IDiagnosisGrain : IGrainWithStringKey
{
    /// <param name="regions">the finding's own regions (those <see cref="Finding.Regions"/> names), not the job's</param>
    [Alias("Diagnose"), ResponseTimeout("00:10:00")]
    Task<CauseReport> Diagnose(RunRef a, RunRef b, CompareOptions options, RegionMatch[] regions, Finding finding,
        CancellationToken cancellationToken = default);
}
