namespace Magneton.Grains;

/// <summary>A silo's resident memory now and at its peak (MiB), as the kernel counts it.</summary>
[GenerateSerializer, Alias("Magneton.SiloMemory")]
public sealed record SiloMemory(
    [property: Id(0)] string Silo,
    [property: Id(1)] double ResidentMb,
    [property: Id(2)] double PeakMb);

/// <summary>
/// The memory of one silo (key: the silo's address, as <c>SiloAddress.ToString()</c>); a caller places it there with a
/// placement hint (<c>magneton bench --cluster</c> measures every silo this way). The answer names the silo it
/// ran on, so a caller can tell whether the hint was honoured.
/// </summary>
[Alias("Magneton.ISiloMemoryGrain")]
public interface ISiloMemoryGrain : IGrainWithStringKey
{
    /// <param name="resetPeak">collect garbage and reset the kernel's peak mark first, so a later peak is that of the work since</param>
    [RequiresRole(ClusterRoles.Read)] [Alias("Measure")] Task<SiloMemory> Measure(bool resetPeak);
}
