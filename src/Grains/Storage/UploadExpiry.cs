using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Magneton.Grains.Storage;

/// <summary>
/// Drops uploads that were begun and never committed (the client went away, or the silo holding the upload was
/// lost): at start-up and then every <see cref="Interval"/>, those idle for <see cref="Lifetime"/>. Several silos
/// on one store may all do it; expiring an upload twice is harmless.
/// </summary>
public sealed class UploadExpiry(IBundleStore store, ILogger<UploadExpiry> log) : BackgroundService
{
    /// <summary>An upload with no chunk for this long is abandoned (a live upload sends a chunk every few seconds).</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);
    static readonly TimeSpan Interval = TimeSpan.FromMinutes(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                int n = await store.ExpireUploadsAsync(Lifetime, stoppingToken).ConfigureAwait(false);
                if (n > 0) log.LogInformation("dropped {Count} unfinished upload(s) idle for over {Hours} h in {Store}", n, Lifetime.TotalHours, store.Location);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogWarning("unfinished uploads not expired this time ({Error})", WireErrors.Cause(e));
            }
            try { await Task.Delay(Interval, stoppingToken).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
        }
    }
}
