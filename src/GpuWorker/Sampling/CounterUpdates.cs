using Magneton.Core.Bundles;

namespace Magneton.GpuWorker.Sampling;

/// <summary>
/// The instants NVML's energy counter moved: rows whose counter differs from the row before (both read). The same
/// rule as <see cref="Magneton.Core.Energy.CounterWindow"/>, which turns the updates inside a window into its power.
/// </summary>
public static class CounterUpdates
{
    /// <summary>Indices of the rows at which the counter had changed since the previous row.</summary>
    public static int[] Find(PowerSamples samples)
    {
        var e = samples.EnergyMj;
        var result = new List<int>();
        for (int i = 1; i < e.Length; i++)
            if (e[i] >= 0 && e[i - 1] >= 0 && e[i] != e[i - 1])
                result.Add(i);
        return [.. result];
    }

    /// <summary>
    /// The counter's update period: the median time between consecutive updates, in ms (NaN with fewer than two
    /// updates). The median ignores the odd long gap of a stalled sampler; on an H100 it is ~100 ms.
    /// </summary>
    public static double MedianPeriodMs(PowerSamples samples) => MedianPeriodMs(samples, Find(samples));

    public static double MedianPeriodMs(PowerSamples samples, int[] updates)
    {
        if (updates.Length < 2) return double.NaN;
        var gaps = new double[updates.Length - 1];
        for (int i = 1; i < updates.Length; i++)
            gaps[i - 1] = (samples.TimeNs[updates[i]] - samples.TimeNs[updates[i - 1]]) / 1e6;
        Array.Sort(gaps);
        int mid = gaps.Length / 2;
        return gaps.Length % 2 == 1 ? gaps[mid] : (gaps[mid - 1] + gaps[mid]) / 2;
    }
}
