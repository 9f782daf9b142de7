namespace Magneton.Client;

/// <summary>
/// The cluster a command talks to, as its <see cref="ClusterOptionSet"/> give it: the gateway address(es) now; the
/// connection's other settings (TLS, timeouts) belong here too, so <see cref="ClusterConnection"/> gets them all.
/// </summary>
public sealed record ClusterTarget(string Address)
{
    public override string ToString() => Address;
}
