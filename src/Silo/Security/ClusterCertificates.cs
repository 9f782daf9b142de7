using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Magneton.Grains;

namespace Magneton.Silo;

/// <summary>
/// The TLS material of a silo or a client: its certificate with its private key and the cluster's CA, from PEM
/// files (<c>--tls-cert --tls-key --tls-ca</c>, or MAGNETON_TLS_CERT/KEY/CA; in Kubernetes a Secret's files). A remote
/// certificate is accepted only when it chains to that CA; its roles come from its subject's OU values
/// (<see cref="RolesOf"/>).
/// </summary>
public sealed class ClusterCertificates
{
    /// <summary>The OU of a silo's certificate; clients accept only silos that carry it.</summary>
    public const string SiloRole = "silo";

    ClusterCertificates(X509Certificate2 own, X509Certificate2Collection authority)
    {
        Own = own;
        Authority = authority;
    }

    /// <summary>This process' certificate, with its private key.</summary>
    public X509Certificate2 Own { get; }
    public X509Certificate2Collection Authority { get; }

    public static ClusterCertificates Load(string certPem, string keyPem, string caPem)
    {
        X509Certificate2 own;
        try
        {
            using var fromPem = X509Certificate2.CreateFromPemFile(certPem, keyPem);
            // SslStream wants a key it can persist on some platforms: round-trip through PKCS#12.
            own = X509CertificateLoader.LoadPkcs12(fromPem.Export(X509ContentType.Pkcs12), null);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new ArgumentException($"--tls-cert {certPem} / --tls-key {keyPem}: not a PEM certificate and its private key ({OneLine(e.Message)})");
        }
        var authority = new X509Certificate2Collection();
        try
        {
            authority.ImportFromPemFile(caPem);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"--tls-ca {caPem}: not a PEM certificate ({OneLine(e.Message)})");
        }
        if (authority.Count == 0) throw new ArgumentException($"--tls-ca {caPem}: no certificate in the file");
        var certificates = new ClusterCertificates(own, authority);
        if (!certificates.Chains(own))
            throw new ArgumentException($"--tls-cert {certPem}: not signed by the cluster's CA ({caPem}) or not valid now");
        return certificates;
    }

    /// <summary>True when the certificate is valid now and chains to the cluster's CA (and to nothing else).</summary>
    public bool Chains(X509Certificate2 certificate)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = DateTime.Now;
        return chain.Build(certificate);
    }

    /// <summary>
    /// The roles of a certificate's subject OU values: <c>submitter</c> (submit captures and comparisons, read),
    /// <c>worker</c> (take and run capture jobs, upload their bundles), <c>reader</c> (read runs, reports and
    /// listings), <c>silo</c> (a member of the cluster: everything).
    /// </summary>
    public static ClusterRoles RolesOf(X509Certificate2 certificate)
    {
        var roles = ClusterRoles.None;
        foreach (var ou in UnitsOf(certificate))
        {
            roles |= ou.ToLowerInvariant() switch
            {
                "submitter" => ClusterRoles.Submit | ClusterRoles.Read,
                "worker" => ClusterRoles.Work,
                "reader" => ClusterRoles.Read,
                SiloRole => ClusterRoles.All,
                _ => ClusterRoles.None,
            };
        }
        return roles;
    }

    public static bool IsSilo(X509Certificate2 certificate) =>
        UnitsOf(certificate).Any(ou => string.Equals(ou, SiloRole, StringComparison.OrdinalIgnoreCase));

    static IEnumerable<string> UnitsOf(X509Certificate2 certificate) =>
        certificate.SubjectName.EnumerateRelativeDistinguishedNames()
            .Where(n => n.GetSingleElementType().Value == "2.5.4.11")
            .Select(n => n.GetSingleElementValue() ?? "");

    static string OneLine(string s) => string.Join(' ', s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries));
}
