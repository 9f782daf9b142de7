using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Magneton.Tests.Infrastructure;

/// <summary>
/// A cluster CA and certificates made at run time (no key is kept in the repository), written as PEM files into a
/// temporary directory: <c>Issue("worker")</c> gives a certificate with OU=worker signed by the CA, <see cref="Foreign"/>
/// one of the same name signed by another CA.
/// </summary>
public sealed class TestCertificates : IDisposable
{
    readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("magneton-tls-");
    readonly X509Certificate2 _ca;
    readonly X509Certificate2 _otherCa;

    public TestCertificates()
    {
        _ca = NewCa("CN=Magneton test cluster CA");
        _otherCa = NewCa("CN=Somebody else's CA");
        CaPem = Path.Combine(_dir.FullName, "ca.pem");
        File.WriteAllText(CaPem, _ca.ExportCertificatePem());
        OtherCaPem = Path.Combine(_dir.FullName, "other-ca.pem");
        File.WriteAllText(OtherCaPem, _otherCa.ExportCertificatePem());
    }

    public string CaPem { get; }
    /// <summary>The other CA, which a <see cref="Foreign"/> certificate's holder would trust.</summary>
    public string OtherCaPem { get; }

    /// <summary>PEM files of a certificate with this OU (silo, submitter, worker, reader) signed by the cluster's CA.</summary>
    public Pem Issue(string role, string name = "") => Write(_ca, role, name.Length > 0 ? name : role);

    /// <summary>A certificate with this OU signed by another CA.</summary>
    public Pem Foreign(string role) => Write(_otherCa, role, "foreign-" + role);

    /// <summary>The CLI's TLS options for a certificate.</summary>
    public string[] Options(Pem pem) => ["--tls-cert", pem.Cert, "--tls-key", pem.Key, "--tls-ca", CaPem];

    Pem Write(X509Certificate2 issuer, string role, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}, OU={role}, O=Magneton tests", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false)); // server and client authentication
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("magneton-silo");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        var serial = RandomNumberGenerator.GetBytes(12);
        using var cert = request.Create(issuer, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), serial);
        var stem = Path.Combine(_dir.FullName, $"{name}-{Convert.ToHexString(serial)[..6]}");
        File.WriteAllText(stem + ".pem", cert.ExportCertificatePem());
        File.WriteAllText(stem + ".key", key.ExportPkcs8PrivateKeyPem());
        return new Pem(stem + ".pem", stem + ".key");
    }

    static X509Certificate2 NewCa(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    public void Dispose()
    {
        _ca.Dispose();
        _otherCa.Dispose();
        try { _dir.Delete(recursive: true); } catch (IOException) { }
    }
}

/// <summary>A certificate and its private key as PEM files.</summary>
public sealed record Pem(string Cert, string Key);
