using System.Text;
using Magneton.GpuWorker.Sampling;

namespace Magneton.GpuWorker.Nvml;

/// <summary>
/// NVML initialised once (nvmlInit_v2 ... nvmlShutdown) with the devices it enumerates. Readings return null where a
/// device does not support them and throw <see cref="NvmlException"/> for real failures (a GPU that fell off the bus).
/// <see cref="Open"/> throws <see cref="NvmlUnavailableException"/> (one line) where there is no usable driver.
/// NVML is thread-safe: a sampler thread may read a device while another thread reads the same or another one.
/// </summary>
public sealed unsafe class NvmlSession : IDisposable
{
    readonly IntPtr[] _handles;
    readonly GpuDevice[] _devices;
    // Entry points an old driver may lack: once found missing, every reading they serve is "not supported" (null)
    // without another call. Only what Open needs (init, count, handles, names, UUIDs, driver version) is required.
    volatile bool _noEnergy, _noPowerUsage, _noFieldValues, _noClocks, _noTemperature;
    int _disposed;

    NvmlSession(string driver, IntPtr[] handles, GpuDevice[] devices)
    {
        DriverVersion = driver;
        _handles = handles;
        _devices = devices;
    }

    public string DriverVersion { get; }
    public IReadOnlyList<GpuDevice> Devices => _devices;

    /// <summary>Initialises NVML and enumerates the devices (name, UUID, driver, power limits).</summary>
    public static NvmlSession Open()
    {
        NvmlReturn init;
        try
        {
            NvmlNative.EnsureResolver();
            init = NvmlNative.InitV2();
        }
        catch (Exception e) when (NvmlUnavailableException.FromLoadFailure(e, "nvmlInit_v2") is { } u)
        {
            throw u;
        }
        if (init != NvmlReturn.Success)
            throw new NvmlUnavailableException($"NVML not available: nvmlInit_v2 failed: {NvmlException.Describe(init)}",
                init, "nvmlInit_v2");

        try
        {
            string driver = ReadString("nvmlSystemGetDriverVersion", NvmlNative.DriverVersionBufferSize,
                static (IntPtr _, byte* b, uint n) => NvmlNative.SystemGetDriverVersion(b, n), IntPtr.Zero);
            uint count = 0;
            Check("nvmlDeviceGetCount_v2", Guard("nvmlDeviceGetCount_v2", () => NvmlNative.DeviceGetCountV2(out count)));
            var handles = new IntPtr[count];
            var devices = new GpuDevice[count];
            for (uint i = 0; i < count; i++)
            {
                IntPtr h = IntPtr.Zero;
                Check("nvmlDeviceGetHandleByIndex_v2",
                    Guard("nvmlDeviceGetHandleByIndex_v2", () => NvmlNative.DeviceGetHandleByIndexV2(i, out h)), $"device {i}");
                handles[i] = h;
                var name = ReadString("nvmlDeviceGetName", NvmlNative.DeviceNameBufferSize,
                    static (IntPtr d, byte* b, uint n) => NvmlNative.DeviceGetName(d, b, n), h, $"device {i}");
                var uuid = ReadString("nvmlDeviceGetUUID", NvmlNative.DeviceUuidBufferSize,
                    static (IntPtr d, byte* b, uint n) => NvmlNative.DeviceGetUuid(d, b, n), h, $"device {i}");
                uint limit = 0, enforced = 0;
                var limitRc = Guard("nvmlDeviceGetPowerManagementLimit",
                    () => NvmlNative.DeviceGetPowerManagementLimit(h, out limit), optional: true);
                var enforcedRc = Guard("nvmlDeviceGetEnforcedPowerLimit",
                    () => NvmlNative.DeviceGetEnforcedPowerLimit(h, out enforced), optional: true);
                ulong energy = 0;
                var energyRc = Guard("nvmlDeviceGetTotalEnergyConsumption",
                    () => NvmlNative.DeviceGetTotalEnergyConsumption(h, out energy), optional: true);
                devices[i] = new GpuDevice((int)i, name, uuid, driver,
                    Optional("nvmlDeviceGetPowerManagementLimit", limitRc, limit, i) / 1000.0,
                    Optional("nvmlDeviceGetEnforcedPowerLimit", enforcedRc, enforced, i) / 1000.0,
                    energyRc == NvmlReturn.Success);
            }
            return new NvmlSession(driver, handles, devices);
        }
        catch
        {
            try { NvmlNative.Shutdown(); } catch (Exception e) when (NvmlUnavailableException.FromLoadFailure(e, "nvmlShutdown") is not null) { }
            throw;
        }
    }

    /// <summary>Energy in mJ since the driver loaded; null where the device (before Volta) or the driver has no counter.</summary>
    public long? ReadEnergyMj(int index)
    {
        var h = Handle(index);
        if (_noEnergy) return null;
        NvmlReturn rc;
        ulong mj;
        try
        {
            rc = NvmlNative.DeviceGetTotalEnergyConsumption(h, out mj);
        }
        catch (EntryPointNotFoundException)
        {
            _noEnergy = true;
            return null;
        }
        catch (Exception e) when (NvmlUnavailableException.FromLoadFailure(e, "nvmlDeviceGetTotalEnergyConsumption") is { } u)
        {
            throw u;
        }
        if (rc == NvmlReturn.Success) return mj > long.MaxValue ? null : (long)mj;
        if (IsUnsupported(rc)) return null;
        throw NvmlException.FromCode("nvmlDeviceGetTotalEnergyConsumption", rc, $"device {index}");
    }

    /// <summary>nvmlDeviceGetPowerUsage in mW (a 1 s moving average on Ampere and later); null where unsupported.</summary>
    public long? ReadPowerUsageMw(int index)
    {
        var h = Handle(index);
        if (_noPowerUsage) return null;
        NvmlReturn rc;
        uint mw;
        try
        {
            rc = NvmlNative.DeviceGetPowerUsage(h, out mw);
        }
        catch (EntryPointNotFoundException)
        {
            _noPowerUsage = true;
            return null;
        }
        catch (Exception e) when (NvmlUnavailableException.FromLoadFailure(e, "nvmlDeviceGetPowerUsage") is { } u)
        {
            throw u;
        }
        return Optional("nvmlDeviceGetPowerUsage", rc, mw, (uint)index);
    }

    /// <summary>
    /// The NVML_FI_DEV_POWER_INSTANT and NVML_FI_DEV_POWER_AVERAGE fields (mW) in one nvmlDeviceGetFieldValues call;
    /// each null where unsupported (the average field needs Ampere, not GA100, or later).
    /// </summary>
    public (long? InstantMw, long? AverageMw) ReadPowerFieldsMw(int index)
    {
        Span<NvmlFieldValue> values = stackalloc NvmlFieldValue[2];
        values[0].FieldId = NvmlField.PowerInstant;
        values[1].FieldId = NvmlField.PowerAverage;
        return ReadFields(index, values) ? (values[0].AsInt64, values[1].AsInt64) : (null, null);
    }

    /// <summary>One power field (<see cref="NvmlField"/>, mW, GPU scope); null where unsupported.</summary>
    public long? ReadPowerFieldMw(int index, uint fieldId)
    {
        Span<NvmlFieldValue> values = stackalloc NvmlFieldValue[1];
        values[0].FieldId = fieldId;
        return ReadFields(index, values) ? values[0].AsInt64 : null;
    }

    /// <summary>nvmlDeviceGetFieldValues; false where the call itself is unsupported (each field has its own code).</summary>
    bool ReadFields(int index, Span<NvmlFieldValue> values)
    {
        var h = Handle(index);
        if (_noFieldValues) return false;
        NvmlReturn rc;
        fixed (NvmlFieldValue* p = values)
        {
            try
            {
                rc = NvmlNative.DeviceGetFieldValues(h, values.Length, p);
            }
            catch (EntryPointNotFoundException)
            {
                _noFieldValues = true;
                return false;
            }
            catch (Exception e) when (NvmlUnavailableException.FromLoadFailure(e, "nvmlDeviceGetFieldValues") is { } u)
            {
                throw u;
            }
        }
        if (rc == NvmlReturn.Success) return true;
        if (IsUnsupported(rc)) return false;
        throw NvmlException.FromCode("nvmlDeviceGetFieldValues", rc, $"device {index}");
    }

    /// <summary>A clock in MHz (SM, memory, graphics, video); null where unsupported.</summary>
    public int? ReadClockMhz(int index, NvmlClockType clock)
    {
        var h = Handle(index);
        if (_noClocks) return null;
        uint mhz = 0;
        NvmlReturn rc;
        try
        {
            rc = NvmlNative.DeviceGetClockInfo(h, clock, out mhz);
        }
        catch (EntryPointNotFoundException)
        {
            _noClocks = true;
            return null;
        }
        catch (Exception e) when (NvmlUnavailableException.FromLoadFailure(e, "nvmlDeviceGetClockInfo") is { } u)
        {
            throw u;
        }
        return (int?)Optional("nvmlDeviceGetClockInfo", rc, mhz, (uint)index);
    }

    /// <summary>The GPU die temperature in degrees C; null where unsupported.</summary>
    public int? ReadTemperatureC(int index)
    {
        var h = Handle(index);
        if (_noTemperature) return null;
        uint c = 0;
        NvmlReturn rc;
        try
        {
            rc = NvmlNative.DeviceGetTemperature(h, NvmlTemperatureSensor.Gpu, out c);
        }
        catch (EntryPointNotFoundException)
        {
            _noTemperature = true;
            return null;
        }
        catch (Exception e) when (NvmlUnavailableException.FromLoadFailure(e, "nvmlDeviceGetTemperature") is { } u)
        {
            throw u;
        }
        return (int?)Optional("nvmlDeviceGetTemperature", rc, c, (uint)index);
    }

    /// <summary>Everything at once (about eight NVML calls, ~1 ms each on an H100).</summary>
    public GpuReading Read(int index)
    {
        long t = UnixClock.NowNs();
        var energy = ReadEnergyMj(index);
        var usage = ReadPowerUsageMw(index);
        var (instant, average) = ReadPowerFieldsMw(index);
        return new GpuReading(index, t, energy, usage, instant, average,
            ReadClockMhz(index, NvmlClockType.Sm), ReadClockMhz(index, NvmlClockType.Memory), ReadTemperatureC(index));
    }

    /// <summary>The device's energy counter and power readings for a <see cref="PowerSampler"/>.</summary>
    public IEnergyCounter Counter(int index)
    {
        Handle(index);
        return new NvmlEnergyCounter(this, index);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            NvmlNative.Shutdown();
        }
        catch (Exception e) when (NvmlUnavailableException.FromLoadFailure(e, "nvmlShutdown") is not null)
        {
        }
    }

    IntPtr Handle(int index)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _handles.Length);
        return _handles[index];
    }

    // --- helpers -------------------------------------------------------------------------------------------------

    /// <summary>Runs one NVML call, turning a missing library or entry point into <see cref="NvmlUnavailableException"/>.</summary>
    static NvmlReturn Guard(string function, Func<NvmlReturn> call, bool optional = false)
    {
        try
        {
            return call();
        }
        catch (EntryPointNotFoundException) when (optional)
        {
            return NvmlReturn.FunctionNotFound;
        }
        catch (Exception e) when (NvmlUnavailableException.FromLoadFailure(e, function) is { } u)
        {
            throw u;
        }
    }

    static void Check(string function, NvmlReturn rc, string? what = null)
    {
        if (rc != NvmlReturn.Success) throw NvmlException.FromCode(function, rc, what);
    }

    static bool IsUnsupported(NvmlReturn rc) =>
        rc is NvmlReturn.NotSupported or NvmlReturn.NoPermission or NvmlReturn.NotFound or NvmlReturn.FunctionNotFound
            or NvmlReturn.NoData or NvmlReturn.Deprecated;

    static long? Optional(string function, NvmlReturn rc, uint value, uint index)
    {
        if (rc == NvmlReturn.Success) return value;
        if (IsUnsupported(rc)) return null;
        throw NvmlException.FromCode(function, rc, $"device {index}");
    }

    unsafe delegate NvmlReturn StringCall(IntPtr device, byte* buffer, uint length);

    static unsafe string ReadString(string function, int size, StringCall call, IntPtr device, string? what = null)
    {
        for (int attempt = 0; ; attempt++)
        {
            var buffer = new byte[size];
            NvmlReturn rc;
            fixed (byte* b = buffer)
            {
                try
                {
                    rc = call(device, b, (uint)size);
                }
                catch (Exception e) when (NvmlUnavailableException.FromLoadFailure(e, function) is { } u)
                {
                    throw u;
                }
            }
            if (rc == NvmlReturn.InsufficientSize && attempt < 2)
            {
                size *= 4;
                continue;
            }
            Check(function, rc, what);
            int end = Array.IndexOf(buffer, (byte)0);
            return Encoding.UTF8.GetString(buffer, 0, end < 0 ? buffer.Length : end).Trim();
        }
    }
}
