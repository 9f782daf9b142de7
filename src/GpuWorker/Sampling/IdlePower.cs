using Magneton.Core.Bundles;
using Magneton.Core.Energy;

namespace Magneton.GpuWorker.Sampling;

/// <summary>Idle power measured over a window of samples taken while nothing runs on the GPU.</summary>
public sealed record IdleMeasurement(WindowPower Window, PowerSamples Samples)
{
    /// <summary>The idle power in W, or NaN when the window saw fewer than two counter updates.</summary>
    public double PowerW => Window.IsValid ? Window.PowerW : double.NaN;
}

public static class IdlePower
{
    /// <summary>
    /// Samples the counter alone for <paramref name="duration"/> on this thread (nothing else should run on the GPU)
    /// and measures the window with <see cref="CounterWindow"/>. Take at least 0.5 s on an H100 (~5 updates).
    /// </summary>
    public static IdleMeasurement Measure(IEnergyCounter counter, TimeSpan duration, PowerSamplerOptions? options = null,
        CancellationToken ct = default)
    {
        var o = (options ?? new PowerSamplerOptions()) with { ReadInstantPower = false, ReadAveragePower = false };
        var samples = PowerSampler.Record(counter, duration, o, ct);
        return new IdleMeasurement(Of(samples), samples);
    }

    /// <summary>The power of all the samples' span (from the first to the last row).</summary>
    public static WindowPower Of(PowerSamples samples) => samples.Count == 0
        ? new WindowPower(double.NaN, double.NaN, 0, double.NaN)
        : CounterWindow.Measure(samples, samples.TimeNs[0], samples.TimeNs[^1]);
}
