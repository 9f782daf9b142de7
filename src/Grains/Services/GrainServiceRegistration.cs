using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Magneton.Grains;

public static class GrainServiceRegistration
{
    /// <summary>Storage provider name of the run grains' state (memory in the embedded silo).</summary>
    public const string RunStorage = "magneton-runs";

    /// <summary>Storage provider name of the comparison jobs' progress (memory in the embedded silo).</summary>
    public const string JobStorage = "magneton-jobs";

    /// <summary>The silo-local services the grains use: run and session caches, counters, serializer, options.</summary>
    public static IServiceCollection AddMagnetonGrainServices(this IServiceCollection services)
    {
        // Per silo, not process-wide: each test cluster (and each silo of a process) configures its own.
        services.AddOptions<CaptureSchedulerOptions>().Validate(o => o.WorkerTimeout > TimeSpan.Zero, "CaptureSchedulerOptions.WorkerTimeout must be positive").ValidateOnStart();
        services.AddOptions<CampaignOptions>().Validate(o => o.Parallel >= 1, "CampaignOptions.Parallel must be at least 1").ValidateOnStart();
        services.AddOptions<MatchingJobOptions>()
            .Validate(o => o.LocalAboveOperators >= 0, "MatchingJobOptions.LocalAboveOperators must not be negative")
            .Validate(o => o.SegmentWorkers >= 1, "MatchingJobOptions.SegmentWorkers must be at least 1")
            .ValidateOnStart();
        services.AddOptions<ClientWorkOptions>().Validate(o => o.MaxInFlight >= 1, "ClientWorkOptions.MaxInFlight must be at least 1").ValidateOnStart();
        services.TryAddSingleton<MagnetonCounters>();
        services.TryAddSingleton<RunCache>();
        services.TryAddSingleton<SessionCache>();
        services.TryAddSingleton<IMatchingStepGate, OpenGate>();
        services.TryAddSingleton<ICallerAuthority, OpenCluster>();
        services.AddMagnetonSerializer();
        return services;
    }
}
