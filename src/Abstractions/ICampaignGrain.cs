using System.Security.Cryptography;
using System.Text;
using Magneton.Core.Campaigns;

namespace Magneton.Grains;

/// <summary>Many versions of a system, each compared against one baseline run.</summary>
[GenerateSerializer, Alias("Magneton.CampaignRequest")]
public sealed record CampaignRequest(
    [property: Id(0)] RunRef Baseline,
    [property: Id(1)] RunRef[] Versions,
    [property: Id(2)] double Threshold = 0.10)
{
    public bool Equals(CampaignRequest? other) =>
        other is not null && Baseline == other.Baseline && Versions.SequenceEqual(other.Versions) && Threshold.Equals(other.Threshold);

    public override int GetHashCode() => HashCode.Combine(Baseline, Versions.Length, Threshold);

    /// <summary>The comparison of version <paramref name="index"/>: the baseline is side A, the version side B.</summary>
    public CompareRequest Comparison(int index) => new(Baseline, Versions[index], Threshold);
}

/// <summary>
/// Where a campaign stands: versions finished (with or without findings), failed, running.
/// <see cref="ProgressSaved"/>: every version finished so far is persisted (a silo lost now loses none of them).
/// </summary>
[GenerateSerializer, Alias("Magneton.CampaignStatus")]
public sealed record CampaignStatus(
    [property: Id(0)] string CampaignId,
    [property: Id(1)] int Versions,
    [property: Id(2)] int Done,
    [property: Id(3)] int Failed,
    [property: Id(4)] int Running,
    [property: Id(5)] bool Finished,
    [property: Id(6)] int Resumes,
    [property: Id(7)] int VersionsRestored,
    [property: Id(8)] int JobsStarted,
    [property: Id(9)] string Silo,
    [property: Id(10)] string[] Recent,
    [property: Id(11)] bool ProgressSaved = false)
{
    /// <summary>Why the campaign is not progressing now (one line; not final: the next call takes it up again).</summary>
    [Id(20)] public string? Problem { get; init; }
    /// <summary>A run whose bundle the store lost: upload it again, then ask again.</summary>
    [Id(21)] public string? MissingRun { get; init; }
}

/// <summary>
/// A campaign (key: campaign id): one comparison job per version, at most a few at a time, progress persisted
/// per finished version, so a campaign whose silo is lost resumes at its next call without redoing finished
/// versions (jobs in flight carry on by themselves and are simply asked again).
/// </summary>
[Alias("Magneton.ICampaignGrain")]
public interface ICampaignGrain : IGrainWithStringKey
{
    [RequiresRole(ClusterRoles.Submit)] [Alias("Start")] Task<CampaignStatus> Start(CampaignRequest request);
    [RequiresRole(ClusterRoles.Read)] [Alias("Wait")] Task<CampaignStatus> Wait(TimeSpan maxWait);
    [RequiresRole(ClusterRoles.Read)] [Alias("GetStatus")] Task<CampaignStatus> GetStatus();
    [RequiresRole(ClusterRoles.Read)] [Alias("GetReport")] Task<CampaignReport> GetReport();
}

/// <summary>Ids of jobs and campaigns that name their work, so asking again finds the stored result.</summary>
public static class WorkIds
{
    /// <summary>
    /// The code's identity. Not part of the ids (a client of another build names the same job), but kept with a
    /// job's state: a job finished by another build is computed again.
    /// </summary>
    public static readonly string CodeVersion = typeof(Magneton.Core.Pipeline).Assembly.ManifestModule.ModuleVersionId.ToString("N");

    /// <summary>
    /// The same comparison of the same stored runs always has the same job id: a hash of every field of the
    /// request (both runs and every option that changes the result), so a request with other options has its own
    /// job. Local-path runs get a fresh id: their directory may have changed since.
    /// </summary>
    public static string Job(CompareRequest r)
    {
        if (r.A.LocalPath is not null || r.B.LocalPath is not null) return "job-" + Guid.NewGuid().ToString("N")[..16];
        return "job-" + Hash($"{r.A.RunId}|{r.B.RunId}|{r.Threshold:R}|{r.TimeTolerance:R}|{r.OutputTolerance:R}");
    }

    /// <summary>True when <paramref name="id"/> may carry <paramref name="r"/>: its own id for stored runs, any id for local paths.</summary>
    public static bool Names(string id, CompareRequest r) =>
        r.A.LocalPath is not null || r.B.LocalPath is not null || id == Job(r);

    public static string Campaign(CampaignRequest r)
    {
        if (r.Baseline.LocalPath is not null || r.Versions.Any(v => v.LocalPath is not null))
            return "campaign-" + Guid.NewGuid().ToString("N")[..16];
        return "campaign-" + Hash($"{r.Baseline.RunId}|{string.Join(',', r.Versions.Select(v => v.RunId))}|{r.Threshold:R}");
    }

    public static bool Names(string id, CampaignRequest r) =>
        r.Baseline.LocalPath is not null || r.Versions.Any(v => v.LocalPath is not null) || id == Campaign(r);

    /// <summary>The job a campaign runs for one version: stored runs share jobs with plain comparisons.</summary>
    public static string JobOf(string campaignId, CampaignRequest r, int index)
    {
        var c = r.Comparison(index);
        return c.A.LocalPath is null && c.B.LocalPath is null ? Job(c) : $"{campaignId}/v{index}";
    }

    static string Hash(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)), 0, 8);
}
