using Microsoft.Extensions.Logging;

namespace Magneton.Grains;

/// <summary>Which failures of a grain call are worth retrying: the cluster moving, not the input being wrong.</summary>
public static class Transient
{
    public static bool Is(Exception e) => e switch
    {
        MagnetonInputException or AccessDeniedException or ArgumentException => false,
        MagnetonUnavailableException => true,
        // An error another silo could not send (its type has no codec): the cluster's trouble, not the input's.
        Orleans.Serialization.CodecNotFoundException => true,
        AggregateException a => a.InnerExceptions.All(Is),
        TimeoutException or OrleansException or System.Net.Sockets.SocketException or IOException => true,
        _ => e.InnerException is { } inner && Is(inner),
    };

    /// <summary>
    /// Runs a step, retrying with backoff (0.25 s doubling) while it fails for a reason other than bad input:
    /// typically the silo that held the callee was lost, and the retry activates the callee on another one.
    /// A call cancelled through <paramref name="ct"/> is not retried.
    /// </summary>
    public static async Task<T> RetryAsync<T>(Func<Task<T>> call, ILogger log, string what, int attempts = 6, CancellationToken ct = default)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (attempt < attempts && !IsInput(e) && !ct.IsCancellationRequested)
            {
                var delay = TimeSpan.FromMilliseconds(250 * (1 << (attempt - 1)));
                GrainLog.Retrying(log, what, e.GetType().Name + ": " + e.Message, attempt, delay.TotalMilliseconds);
                await Task.Delay(delay, ct);
            }
        }
    }

    public static Task RetryAsync(Func<Task> call, ILogger log, string what, CancellationToken ct = default) =>
        RetryAsync<bool>(async () => { await call(); return true; }, log, what, ct: ct);

    /// <summary>A run's bundle missing from the store: retrying will not bring it back, uploading it again does.</summary>
    public static MagnetonUnavailableException? MissingRun(Exception e) => e switch
    {
        MagnetonUnavailableException { RunId: not null } m => m,
        AggregateException a => a.Flatten().InnerExceptions.Select(MissingRun).FirstOrDefault(m => m is not null),
        _ => null,
    };

    static bool IsInput(Exception e) => e is MagnetonInputException or AccessDeniedException || MissingRun(e) is not null
        || e is AggregateException a && a.Flatten().InnerExceptions.Any(x => x is MagnetonInputException or AccessDeniedException);
}
