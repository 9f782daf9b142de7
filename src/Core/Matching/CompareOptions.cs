namespace Magneton.Core.Matching;

/// <summary>Knobs of a comparison; defaults are the method's 10%/1%/1% rule.</summary>
public sealed record CompareOptions
{
    /// <summary>Minimum relative energy excess (wasteful over efficient, minus one) for a finding.</summary>
    public double Threshold { get; init; } = 0.10;
    /// <summary>The efficient side may be at most this much slower for the verdict to be waste, not a trade-off.</summary>
    public double TimeTolerance { get; init; } = 0.01;
    /// <summary>
    /// Values (and so the outputs of matched regions) are equivalent when their fingerprints agree within this,
    /// relative to the tensor's RMS (moments and deciles; extremes and spectra get proportionally more): the
    /// method's output check, on fingerprints. bf16 rounding and tf32 against fp32 stay well inside the default.
    /// </summary>
    public double OutputTolerance { get; init; } = Fingerprint.DefaultTolerance;
    /// <summary>
    /// Drop regions whose two sides do identical work (same ops, inputs and kernels) before detection. Off only in
    /// tests that check the energy model resolves identical work by itself.
    /// </summary>
    internal bool SameWorkGuard { get; init; } = true;
}
