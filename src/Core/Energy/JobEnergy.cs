using Magneton.Core.Bundles;

namespace Magneton.Core.Energy;

/// <summary>The measured job energy per iteration with its one-sigma and the counter updates behind it.</summary>
public readonly record struct JobEstimate(double ValueJ, double SigmaJ, int Updates);

/// <summary>
/// The whole-job ground truth: the uninstrumented baseline's energy per iteration, from the counter's updates inside
/// the baseline window (the rule of <see cref="CounterWindow"/>). measure.json's window-end reads see a counter that
/// moves every ~100 ms, so they are off by up to an update period at each end (-5.5% to +0.4% on the samples).
/// </summary>
public static class JobEnergy
{
    /// <summary>The energy counter's update period on the H100 (and the bound used where the samples are missing).</summary>
    public const double DefaultUpdateSeconds = 0.1;

    public static JobEstimate Measure(Bundle b, List<string> notes)
    {
        var m = b.Measure.Baseline;
        if (b.BaselinePower is { } samples)
        {
            var w = CounterWindow.Measure(samples, m.WindowStartNs, m.WindowEndNs);
            if (w.IsValid && w.PowerW > 0)
            {
                double e = w.PowerW * m.IterSeconds;
                return new JobEstimate(e, e * w.RelativeSigma, w.Updates);
            }
        }
        // Only the window ends: each may be one update period stale. As a one-sigma, half the worst case.
        double wall = Math.Max(m.WallSeconds, 1e-9);
        double bound = 2 * DefaultUpdateSeconds / wall;
        notes.Add(FormattableString.Invariant(
            $"job energy from measure.json's window-end counter reads (no usable baseline_power.csv): quantised to the counter's {DefaultUpdateSeconds * 1000:F0} ms updates, up to +-{bound:P1}"));
        return new JobEstimate(m.IterEnergyCounterJ, m.IterEnergyCounterJ * bound / 2, 0);
    }
}
