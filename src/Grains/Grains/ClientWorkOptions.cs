namespace Magneton.Grains;

/// <summary>How much work one client may have in flight on the cluster (<c>magneton silo --max-work-per-client</c>).</summary>
public sealed class ClientWorkOptions
{
    public const int DefaultMaxInFlight = 32;

    /// <summary>Unfinished comparisons and campaigns one client may have started (a campaign's own comparisons are the campaign's).</summary>
    public int MaxInFlight { get; set; } = DefaultMaxInFlight;
}
