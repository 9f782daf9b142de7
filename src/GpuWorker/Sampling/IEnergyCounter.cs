namespace Magneton.GpuWorker.Sampling;

/// <summary>
/// What the sampler reads from one GPU: NVML behind an interface so the sampler can be tested with a deterministic
/// fake. Each method returns -1 where the reading is not supported; a failure (GPU lost) throws.
/// </summary>
public interface IEnergyCounter
{
    /// <summary>The energy counter in mJ (nvmlDeviceGetTotalEnergyConsumption).</summary>
    long ReadEnergyMj();

    /// <summary>nvmlDeviceGetPowerUsage in mW: the power_avg_mw column (a 1 s moving average on Ampere and later).</summary>
    long ReadPowerAverageMw();

    /// <summary>NVML_FI_DEV_POWER_INSTANT in mW: the power_instant_mw column.</summary>
    long ReadPowerInstantMw();
}
