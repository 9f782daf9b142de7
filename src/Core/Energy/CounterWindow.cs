using Magneton.Core.Bundles;

namespace Magneton.Core.Energy;

/// <summary>
/// The energy of a time window from NVML's energy counter. The counter only moves every ~100 ms on an H100,
/// so a window's power is the counter increase between the first and the last update inside the window
/// divided by the time between those updates: one honest number with the number of updates behind it.
/// </summary>
public sealed record WindowPower(double PowerW, double EnergyJ, int Updates, double UpdatePeriodMs)
{
    public bool IsValid => Updates >= 2 && double.IsFinite(PowerW);

    /// <summary>
    /// Relative one-sigma error of <see cref="PowerW"/>: each end of the measured span is the first sample that saw
    /// the update, up to one sampling interval late, over the span between the first and last update.
    /// </summary>
    public double RelativeSigma { get; init; } = double.NaN;
}

public static class CounterWindow
{
    /// <summary>Power over [fromNs, toNs] from counter updates; Updates &lt; 2 means the window is too short to tell.</summary>
    public static WindowPower Measure(PowerSamples s, long fromNs, long toNs)
    {
        int first = -1, last = -1, updates = 0;
        var t = s.TimeNs;
        var e = s.EnergyMj;
        int start = LowerBound(t, fromNs);
        for (int i = Math.Max(start, 1); i < t.Length && t[i] <= toNs; i++)
        {
            if (e[i] < 0 || e[i - 1] < 0 || e[i] == e[i - 1]) continue;
            if (first < 0) first = i;
            last = i;
            updates++;
        }
        if (updates < 2)
            return new WindowPower(double.NaN, double.NaN, updates, double.NaN);
        double seconds = (t[last] - t[first]) / 1e9;
        double joules = (e[last] - e[first]) / 1000.0;
        double power = joules / seconds;
        double sampleSeconds = (t[last] - t[first]) / 1e9 / Math.Max(1, last - first);
        return new WindowPower(power, power * (toNs - fromNs) / 1e9, updates, seconds * 1000.0 / (updates - 1))
        {
            RelativeSigma = Math.Sqrt(2) * sampleSeconds / seconds,
        };
    }

    static int LowerBound(long[] a, long x)
    {
        int lo = 0, hi = a.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (a[mid] < x) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
}
