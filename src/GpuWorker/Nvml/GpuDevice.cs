namespace Magneton.GpuWorker.Nvml;

/// <summary>
/// A GPU as NVML enumerates it. Power limits are null where the device does not report them;
/// <see cref="HasEnergyCounter"/> is false before Volta (no nvmlDeviceGetTotalEnergyConsumption).
/// </summary>
public sealed record GpuDevice(
    int Index,
    string Name,
    string Uuid,
    string Driver,
    double? PowerLimitW,
    double? EnforcedPowerLimitW,
    bool HasEnergyCounter);

/// <summary>
/// One reading of a device's telemetry; null where NVML does not support the reading on this device.
/// <see cref="PowerUsageMw"/> is nvmlDeviceGetPowerUsage (a 1 s moving average on Ampere and later);
/// <see cref="PowerInstantMw"/> and <see cref="PowerAverageMw"/> are the NVML_FI_DEV_POWER_INSTANT and
/// NVML_FI_DEV_POWER_AVERAGE fields. On an H100 all of them and the energy counter move only every ~100 ms.
/// </summary>
public sealed record GpuReading(
    int Index,
    long UnixNs,
    long? EnergyMj,
    long? PowerUsageMw,
    long? PowerInstantMw,
    long? PowerAverageMw,
    int? SmClockMhz,
    int? MemoryClockMhz,
    int? TemperatureC);
