using Magneton.Core.Reporting;

namespace Magneton.Grains;

/// <summary>
/// One comparison job (key: job id): ingest both runs, prepare the match session, fan the top-level
/// segments out to <see cref="ISegmentMatcherGrain"/> workers, detect, diagnose each finding in an
/// <see cref="IDiagnosisGrain"/>, and build the report. Same result as <c>Pipeline.Compare</c>.
/// </summary>
[Alias("Magneton.IMatchingJobGrain")]
public interface IMatchingJobGrain : IGrainWithStringKey
{
    [Alias("Compare")] Task<ComparisonReport> Compare(CompareRequest request);
}
