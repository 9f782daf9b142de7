using System.Net;
using Magneton.Grains;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Orleans.Connections.Security;
using Orleans.Hosting;

namespace Magneton.Silo;

/// <summary>
/// Mutual TLS for a Magneton cluster (Orleans.Connections.Security): silo-to-silo and client-to-gateway
/// connections are encrypted, and both ends present a certificate signed by the cluster's CA. A silo's own port
/// admits only silo certificates (OU=silo), its gateway any certificate of the CA; a client accepts only silos.
/// Each call then carries the caller's <see cref="CallerAssertion"/>, from which grains learn its roles.
/// </summary>
public static class ClusterTls
{
    /// <summary>The TLS name clients and silos expect of a silo (connections go to addresses, not names).</summary>
    public const string SiloHostName = "magneton-silo";

    /// <summary>Set during an incoming handshake on the gateway port; false for the silo port and outgoing connections.</summary>
    static readonly AsyncLocal<bool> IncomingOnGateway = new();

    public static ISiloBuilder UseMagnetonTls(this ISiloBuilder silo, ClusterCertificates certificates, int siloPort)
    {
        silo.UseTls(certificates.Own, o =>
        {
            o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            o.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
            // Which port a connection came in on decides what may connect: the silo port speaks the cluster's
            // internal protocol, so only silos; the gateway any certificate of the CA (roles are checked per call).
            // Outgoing connections go to other silos. The validator is not told the connection, so the server side
            // notes it first (the handshake runs in the same flow).
            o.OnAuthenticateAsServer = (connection, _) =>
                IncomingOnGateway.Value = !(connection.LocalEndPoint is IPEndPoint local && local.Port == siloPort);
            o.RemoteCertificateValidation = (cert, _, _) =>
                certificates.Chains(cert) && (IncomingOnGateway.Value || ClusterCertificates.IsSilo(cert));
            o.OnAuthenticateAsClient = (_, a) => a.TargetHost = SiloHostName;
        });
        silo.Services.AddSingleton(certificates);
        silo.Services.TryAddSingleton(TimeProvider.System);
        silo.Services.Replace(ServiceDescriptor.Singleton<ICallerAuthority, CertificateCallers>());
        silo.AddOutgoingGrainCallFilter<CallerAssertionFilter>();
        return silo;
    }

    public static IClientBuilder UseMagnetonTls(this IClientBuilder client, ClusterCertificates certificates)
    {
        client.UseTls(certificates.Own, o =>
        {
            o.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
            o.RemoteCertificateValidation = (cert, _, _) => certificates.Chains(cert) && ClusterCertificates.IsSilo(cert);
            o.OnAuthenticateAsClient = (_, a) => a.TargetHost = SiloHostName;
        });
        client.Services.AddSingleton(certificates);
        client.Services.TryAddSingleton(TimeProvider.System);
        client.AddOutgoingGrainCallFilter<CallerAssertionFilter>();
        return client;
    }
}
