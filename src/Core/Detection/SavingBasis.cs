using System.Text.Json.Serialization;
using Magneton.Core.Runs;

namespace Magneton.Core.Detection;

/// <summary>What a finding's job_saving_j counts; JSON names as in the report's saving_basis.</summary>
[JsonConverter(typeof(JsonNameConverter<SavingBasis>))]
public enum SavingBasis
{
    /// <summary>No saving worked out: plain profiler traces (Traces), whose reports write "".</summary>
    [JsonStringEnumMemberName("")] None,
    /// <summary>A GPU-bound job: shorter kernels shorten it, so the whole difference is saved.</summary>
    [JsonStringEnumMemberName("total")] Total,
    /// <summary>A host-bound job: the GPU idles instead, so only the difference above idle power is saved.</summary>
    [JsonStringEnumMemberName("dynamic")] Dynamic,
}

public static class SavingBases
{
    public static string Json(this SavingBasis basis) => JsonName.Of(basis);
}
