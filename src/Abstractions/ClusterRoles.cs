namespace Magneton.Grains;

/// <summary>
/// What a client of the cluster may do, from its certificate (see <c>CertificateRoles</c>): submit captures and
/// comparisons, run as a GPU worker, or only read runs, reports and listings. A cluster without TLS is a
/// loopback-only, single-user cluster: every local client has every role.
/// </summary>
[Flags]
public enum ClusterRoles
{
    None = 0,
    Read = 1,
    Submit = 2,
    Work = 4,
    All = Read | Submit | Work,
}
