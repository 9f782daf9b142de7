using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace Magneton.Grains;

/// <summary>
/// Core's records (Segment, RegionMatch, Finding, CauseReport, ComparisonReport, CompareOptions) carry
/// System.Text.Json attributes and no Orleans ones, so they cross grain calls as JSON. Register this on every
/// silo and every client. Run and MatchSession never cross a call: they live in silo-local caches.
/// </summary>
public static class MagnetonSerialization
{
    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        // Ratios and fingerprints may be NaN or infinite; they must survive a round trip.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Types sent as JSON: Core's plain data, never exceptions (those use Orleans' exception codec).</summary>
    public static bool IsCoreDataType(Type t) =>
        t.Namespace is { } ns && (ns == "Magneton.Core" || ns.StartsWith("Magneton.Core.", StringComparison.Ordinal))
        && !typeof(Exception).IsAssignableFrom(t);

    public static IServiceCollection AddMagnetonSerializer(this IServiceCollection services) =>
        services.AddSerializer(sb => sb.AddJsonSerializer(isSupported: IsCoreDataType, JsonOptions));
}
