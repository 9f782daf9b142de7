namespace Magneton.Grains;

/// <summary>Settings of the campaign grains on a silo.</summary>
public sealed class CampaignOptions
{
    public const int DefaultParallel = 4;

    /// <summary>Comparison jobs in flight at once per campaign.</summary>
    public int Parallel { get; set; } = DefaultParallel;
}
