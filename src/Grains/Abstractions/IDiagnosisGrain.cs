using Magneton.Core;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;

namespace Magneton.Grains;

/// <summary>Diagnoses one finding (key: "jobId/findingId").</summary>
[Alias("Magneton.IDiagnosisGrain")]
public interface IDiagnosisGrain : IGrainWithStringKey
{
    [Alias("Diagnose")]
    Task<CauseReport> Diagnose(string runIdA, string bundleA, string runIdB, string bundleB, CompareOptions options,
        RegionMatch[] regions, Finding finding);
}
