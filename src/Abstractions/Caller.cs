namespace Magneton.Grains;

/// <summary>
/// Who makes the current grain call: the subject of a verified client certificate and its roles, or
/// <see cref="Local"/> on a cluster without TLS (nobody is identified; everyone on the loopback has every role).
/// </summary>
public sealed record Caller(string? Name, ClusterRoles Roles)
{
    public static readonly Caller Local = new(null, ClusterRoles.All);
    public static readonly Caller Anonymous = new(null, ClusterRoles.None);

    /// <summary>Identified by a certificate: only then can a caller be told apart from another (a job's submitter).</summary>
    public bool Identified => Name is not null;

    public bool Has(ClusterRoles role) => (Roles & role) == role;

    public static string RoleName(ClusterRoles role) => role switch
    {
        ClusterRoles.Read => "reader",
        ClusterRoles.Submit => "submitter",
        ClusterRoles.Work => "worker",
        _ => role.ToString().ToLowerInvariant(),
    };
}
