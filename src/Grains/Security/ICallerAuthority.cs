using Microsoft.Extensions.DependencyInjection;

namespace Magneton.Grains;

/// <summary>Tells a grain who called it. A silo with TLS replaces <see cref="OpenCluster"/> with the certificate-based one.</summary>
public interface ICallerAuthority
{
    Caller Current();
}

/// <summary>A cluster without TLS (loopback only): every caller is <see cref="Caller.Local"/>.</summary>
public sealed class OpenCluster : ICallerAuthority
{
    public Caller Current() => Caller.Local;
}

public static class CallerAuthorityExtensions
{
    /// <summary>The caller of the grain call in progress (grains: <c>ServiceProvider.Caller()</c>).</summary>
    public static Caller Caller(this IServiceProvider services) =>
        services.GetService<ICallerAuthority>()?.Current() ?? Magneton.Grains.Caller.Local;
}
