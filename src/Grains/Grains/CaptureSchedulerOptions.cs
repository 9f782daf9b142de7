namespace Magneton.Grains;

/// <summary>Settings of the capture scheduler grains on a silo (<c>magneton silo --worker-timeout</c>).</summary>
public sealed class CaptureSchedulerOptions
{
    public static readonly TimeSpan DefaultWorkerTimeout = TimeSpan.FromSeconds(15);

    /// <summary>A worker not heard from for this long is gone; its running job is queued again. Workers beat every 2 s.</summary>
    public TimeSpan WorkerTimeout { get; set; } = DefaultWorkerTimeout;
}
