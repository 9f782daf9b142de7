using System.Collections.Concurrent;
using Magneton.Grains;

namespace Magneton.Silo;

/// <summary>
/// Who calls, on a silo with TLS: the verified <see cref="CallerAssertion"/> of the call's request context (its
/// certificate's subject and roles), or <see cref="Caller.Anonymous"/> (no role) when there is none or it does not
/// verify. Verified assertions are remembered until they expire.
/// </summary>
public sealed class CertificateCallers(ClusterCertificates certificates, TimeProvider clock) : ICallerAuthority
{
    readonly ConcurrentDictionary<string, (Caller Caller, DateTimeOffset Until)> _verified = new(StringComparer.Ordinal);

    public Caller Current() =>
        RequestContext.Get(CallerAssertion.ContextKey) is string assertion ? Of(assertion) : Caller.Anonymous;

    public Caller Of(string assertion)
    {
        var now = clock.GetUtcNow();
        if (_verified.TryGetValue(assertion, out var known) && known.Until > now) return known.Caller;
        var certificate = CallerAssertion.Verify(assertion, now);
        if (certificate is null || !certificates.Chains(certificate)) return Caller.Anonymous;
        var caller = new Caller(certificate.Subject, ClusterCertificates.RolesOf(certificate));
        if (_verified.Count > 10_000) _verified.Clear(); // bounded: a flood of assertions costs verification, not memory
        var until = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
        var expires = DateTimeOffset.FromUnixTimeSeconds(long.Parse(assertion.Split('.')[1], System.Globalization.CultureInfo.InvariantCulture)) + CallerAssertion.Lifetime;
        _verified[assertion] = (caller, until < expires ? until : expires);
        return caller;
    }
}

/// <summary>
/// Puts this process' <see cref="CallerAssertion"/> on every outgoing call that carries none: a client's calls, and
/// a silo's own calls (timers, background work). A silo's grain calling on behalf of a client keeps the client's.
/// </summary>
public sealed class CallerAssertionFilter(ClusterCertificates certificates, TimeProvider clock) : IOutgoingGrainCallFilter
{
    readonly object _gate = new();
    (string Assertion, DateTimeOffset Renew) _current;

    public Task Invoke(IOutgoingGrainCallContext context)
    {
        if (RequestContext.Get(CallerAssertion.ContextKey) is not string) RequestContext.Set(CallerAssertion.ContextKey, Assertion());
        return context.Invoke();
    }

    string Assertion()
    {
        var now = clock.GetUtcNow();
        lock (_gate)
        {
            if (_current.Assertion is null || now >= _current.Renew)
                _current = (CallerAssertion.Create(certificates.Own, now), now + TimeSpan.FromHours(1));
            return _current.Assertion;
        }
    }
}
