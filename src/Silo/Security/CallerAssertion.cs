using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Magneton.Silo;

/// <summary>
/// A caller's proof of its certificate, carried in every grain call's request context: the certificate, a time
/// and a signature of both by the certificate's private key. Orleans 10 does not tell a grain which TLS connection
/// a call came in on, so the silo verifies this instead (<see cref="CertificateCallers"/>): the certificate must
/// chain to the cluster's CA and the signature must be its key's. Only silos ever see an assertion (the
/// connections are TLS), and it is renewed hourly.
/// </summary>
public static class CallerAssertion
{
    public const string ContextKey = "magneton.caller";
    /// <summary>How long an assertion is good for; clients sign a new one well before.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(2);

    public static string Create(X509Certificate2 own, DateTimeOffset now)
    {
        var issued = now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        var der = own.RawData;
        var signed = Signed(der, issued);
        byte[] signature = own.GetECDsaPrivateKey() is { } ec
            ? ec.SignData(signed, HashAlgorithmName.SHA256)
            : own.GetRSAPrivateKey() is { } rsa
                ? rsa.SignData(signed, HashAlgorithmName.SHA256, RSASignaturePadding.Pss)
                : throw new ArgumentException("the TLS certificate's key is neither ECDSA nor RSA");
        return $"{Convert.ToBase64String(der)}.{issued}.{Convert.ToBase64String(signature)}";
    }

    /// <summary>The certificate of a well-formed assertion whose signature is its key's and whose time is current; else null.</summary>
    public static X509Certificate2? Verify(string assertion, DateTimeOffset now)
    {
        var parts = assertion.Split('.');
        if (parts.Length != 3 || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var issued)) return null;
        var at = DateTimeOffset.FromUnixTimeSeconds(issued);
        if (at > now + TimeSpan.FromMinutes(5) || now - at > Lifetime) return null;
        try
        {
            var der = Convert.FromBase64String(parts[0]);
            var signature = Convert.FromBase64String(parts[2]);
            var certificate = X509CertificateLoader.LoadCertificate(der);
            var signed = Signed(der, parts[1]);
            bool valid = certificate.GetECDsaPublicKey() is { } ec
                ? ec.VerifyData(signed, signature, HashAlgorithmName.SHA256)
                : certificate.GetRSAPublicKey() is { } rsa && rsa.VerifyData(signed, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pss);
            return valid ? certificate : null;
        }
        catch (Exception e) when (e is FormatException or CryptographicException)
        {
            return null;
        }
    }

    static byte[] Signed(byte[] der, string issued) =>
        [.. Encoding.ASCII.GetBytes("magneton-caller/1|" + issued + "|"), .. SHA256.HashData(der)];
}
