using Magneton.Grains;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Hosting;

namespace Magneton.Silo;

public static class MagnetonSiloExtensions
{
    /// <summary>
    /// Calls between grains are short (a status, a chunk, a job start) unless the method says otherwise: the long ones
    /// (a run's ingestion, a segment's matching, a finding's diagnosis, the embedded CLI's whole comparison) carry
    /// [ResponseTimeout] on their interface method. Orleans' default is 30 s, too short for a loaded silo writing state.
    /// </summary>
    public static readonly TimeSpan ResponseTimeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// A separate client's calls are all short (status, one poll of at most a few seconds, a chunk), so a call
    /// whose silo was lost fails within this and is retried, instead of holding the client for 30 minutes. The few
    /// longer calls say so with [ResponseTimeout] on the interface method.
    /// </summary>
    public static readonly TimeSpan ClientCallTimeout = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Everything Magneton's grains need on a silo: the run and session caches, the counters, the JSON
    /// serializer for Core's records, memory storage for run grain state and the default response timeout.
    /// </summary>
    public static ISiloBuilder AddMagneton(this ISiloBuilder silo, MagnetonStorageOptions? storage = null)
    {
        silo.Services.AddMagnetonGrainServices();
        silo.AddMagnetonStorage(storage);
        silo.Services.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = ResponseTimeout);
        silo.AddIncomingGrainCallFilter<WireErrors>();
        // Grain calls carry the caller's span, so a job's ingest, match and diagnose spans form one trace.
        silo.AddMagnetonActivityPropagation();
        // Roles of RequiresRole methods; every caller has all of them unless TLS replaces ICallerAuthority.
        silo.AddIncomingGrainCallFilter<RoleFilter>();
        // After the roles: a caller without the submitter role is refused for that, not counted.
        silo.AddIncomingGrainCallFilter<WorkAdmission>();
        return silo;
    }

    /// <summary>What a separate client needs to call Magneton grains: the serializer and the short response timeout.</summary>
    public static IClientBuilder AddMagnetonClient(this IClientBuilder client)
    {
        client.Services.AddMagnetonSerializer();
        client.Services.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = ClientCallTimeout);
        client.AddMagnetonActivityPropagation();
        return client;
    }
}
