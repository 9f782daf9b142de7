using System.Text.Json.Serialization;
using Magneton.Core.Runs;

namespace Magneton.Core.Detection;

/// <summary>How a region pair's energies for the ratio were taken; JSON names as in the report's energy_basis.</summary>
[JsonConverter(typeof(JsonNameConverter<EnergyBasis>))]
public enum EnergyBasis
{
    /// <summary>No energy to take a basis of: plain profiler traces (Traces), whose reports write "".</summary>
    [JsonStringEnumMemberName("")] None,
    /// <summary>The in-situ model, identical operators in common mode.</summary>
    [JsonStringEnumMemberName("in-situ")] InSitu,
    /// <summary>Both sides are exactly replayed module calls: the replayed energies.</summary>
    [JsonStringEnumMemberName("replay")] Replay,
}

public static class EnergyBases
{
    public static string Json(this EnergyBasis basis) => JsonName.Of(basis);
}
