using Magneton.Core;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;

namespace Magneton.Grains;

/// <summary>Diagnoses one finding (key: "jobId/findingIndex"); placed at random, pure.</summary>
[Alias("Magneton.IDiagnosisGrain")]
public interface IDiagnosisGrain : IGrainWithStringKey
{
    [Alias("Diagnose")]
    Task<CauseReport> Diagnose(RunRef a, RunRef b, CompareOptions options, RegionMatch[] regions, Finding finding);
}
