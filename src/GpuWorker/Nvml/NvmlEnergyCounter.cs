using Magneton.GpuWorker.Sampling;

namespace Magneton.GpuWorker.Nvml;

/// <summary>
/// One device's counter and power readings for the sampler, -1 where unsupported. A reading found unsupported once is
/// not asked for again, so an unsupported field costs no NVML call per sample.
/// </summary>
internal sealed class NvmlEnergyCounter(NvmlSession session, int index) : IEnergyCounter
{
    bool _noEnergy, _noUsage, _noInstant;

    public long ReadEnergyMj()
    {
        if (_noEnergy) return -1;
        var v = session.ReadEnergyMj(index);
        _noEnergy = v is null;
        return v ?? -1;
    }

    public long ReadPowerAverageMw()
    {
        if (_noUsage) return -1;
        var v = session.ReadPowerUsageMw(index);
        _noUsage = v is null;
        return v ?? -1;
    }

    public long ReadPowerInstantMw()
    {
        if (_noInstant) return -1;
        var v = session.ReadPowerFieldMw(index, NvmlField.PowerInstant);
        _noInstant = v is null;
        return v ?? -1;
    }
}
