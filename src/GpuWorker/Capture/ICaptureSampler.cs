using Magneton.Core.Bundles;
using Magneton.GpuWorker.Sampling;

namespace Magneton.GpuWorker.Capture;

/// <summary>Samples the GPU's energy counter for the whole of a capture (the probe itself reads no NVML).</summary>
public interface ICaptureSampler : IDisposable
{
    void Start();

    /// <summary>Stops sampling and returns every row (power.csv columns).</summary>
    PowerSamples Stop();
}

/// <summary>The NVML <see cref="PowerSampler"/> on one device: counter, instantaneous and averaged power.</summary>
public sealed class PowerCaptureSampler(IEnergyCounter counter, PowerSamplerOptions? options = null) : ICaptureSampler
{
    /// <summary>1 kHz at most: ten times finer than the H100's 100 ms counter updates, and a core left to the job.</summary>
    public static PowerSamplerOptions DefaultOptions { get; } = new() { Interval = TimeSpan.FromMilliseconds(1) };

    readonly PowerSampler _sampler = new(counter, options ?? DefaultOptions);

    public void Start() => _sampler.Start();

    public PowerSamples Stop() => _sampler.Stop();

    public void Dispose() => _sampler.Dispose();
}
