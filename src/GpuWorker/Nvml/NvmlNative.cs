using System.Runtime.InteropServices;

namespace Magneton.GpuWorker.Nvml;

/// <summary>
/// The raw NVML entry points (nvml.h), bound with source-generated [LibraryImport] stubs. Every function returns an
/// <see cref="NvmlReturn"/> code; use <see cref="NvmlSession"/>, which turns codes and load failures into exceptions.
/// </summary>
/// <remarks>
/// .NET probes only <c>libnvidia-ml.so</c> and <c>nvidia-ml.so</c> for "nvidia-ml", but the driver installs only
/// <c>libnvidia-ml.so.1</c> (the unversioned name comes with dev packages), so the resolver below tries the versioned
/// name first. It goes through dlopen, so LD_LIBRARY_PATH and the ld.so cache apply. A stub binds its entry point on
/// its first call: a missing library raises <see cref="DllNotFoundException"/> and a driver without the function
/// <see cref="EntryPointNotFoundException"/> at that call.
/// </remarks>
internal static unsafe partial class NvmlNative
{
    public const string Library = "nvidia-ml";

    /// <summary>The names tried, in order, for <see cref="Library"/>.</summary>
    public static readonly string[] Candidates = OperatingSystem.IsWindows()
        ? ["nvml.dll"]
        : ["libnvidia-ml.so.1", "libnvidia-ml.so"];

    public const int DeviceNameBufferSize = 96;   // NVML_DEVICE_NAME_V2_BUFFER_SIZE
    public const int DeviceUuidBufferSize = 96;   // NVML_DEVICE_UUID_V2_BUFFER_SIZE
    public const int DriverVersionBufferSize = 80; // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE

    static NvmlNative()
    {
        // One resolver per assembly: this is the only native library Magneton.GpuWorker imports.
        NativeLibrary.SetDllImportResolver(typeof(NvmlNative).Assembly, Resolve);
    }

    /// <summary>Forces the static constructor (the resolver) before any stub runs.</summary>
    public static void EnsureResolver() { }

    static IntPtr Resolve(string name, System.Reflection.Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (name != Library) return IntPtr.Zero;
        foreach (var candidate in Candidates)
            if (NativeLibrary.TryLoad(candidate, assembly, searchPath, out var handle))
                return handle;
        return IntPtr.Zero; // default probing follows, then DllNotFoundException
    }

    [LibraryImport(Library, EntryPoint = "nvmlInit_v2")]
    public static partial NvmlReturn InitV2();

    [LibraryImport(Library, EntryPoint = "nvmlShutdown")]
    public static partial NvmlReturn Shutdown();

    /// <summary>A static NUL-terminated string owned by NVML.</summary>
    [LibraryImport(Library, EntryPoint = "nvmlErrorString")]
    public static partial IntPtr ErrorString(NvmlReturn result);

    [LibraryImport(Library, EntryPoint = "nvmlSystemGetDriverVersion")]
    public static partial NvmlReturn SystemGetDriverVersion(byte* version, uint length);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetCount_v2")]
    public static partial NvmlReturn DeviceGetCountV2(out uint deviceCount);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetHandleByIndex_v2")]
    public static partial NvmlReturn DeviceGetHandleByIndexV2(uint index, out IntPtr device);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetName")]
    public static partial NvmlReturn DeviceGetName(IntPtr device, byte* name, uint length);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetUUID")]
    public static partial NvmlReturn DeviceGetUuid(IntPtr device, byte* uuid, uint length);

    /// <summary>The power management limit in mW (what the limit is set to).</summary>
    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetPowerManagementLimit")]
    public static partial NvmlReturn DeviceGetPowerManagementLimit(IntPtr device, out uint limitMw);

    /// <summary>The limit actually enforced in mW (the minimum of all limiters).</summary>
    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetEnforcedPowerLimit")]
    public static partial NvmlReturn DeviceGetEnforcedPowerLimit(IntPtr device, out uint limitMw);

    /// <summary>Energy in mJ since the driver was last reloaded (Volta and later).</summary>
    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetTotalEnergyConsumption")]
    public static partial NvmlReturn DeviceGetTotalEnergyConsumption(IntPtr device, out ulong energyMj);

    /// <summary>Power in mW; on Ampere and later a 1 s moving average (it lags a load step by about a second).</summary>
    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetPowerUsage")]
    public static partial NvmlReturn DeviceGetPowerUsage(IntPtr device, out uint powerMw);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetFieldValues")]
    public static partial NvmlReturn DeviceGetFieldValues(IntPtr device, int valuesCount, NvmlFieldValue* values);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetClockInfo")]
    public static partial NvmlReturn DeviceGetClockInfo(IntPtr device, NvmlClockType type, out uint clockMhz);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetTemperature")]
    public static partial NvmlReturn DeviceGetTemperature(IntPtr device, NvmlTemperatureSensor sensor, out uint temperatureC);
}

/// <summary>nvmlReturn_t.</summary>
public enum NvmlReturn
{
    Success = 0,
    Uninitialized = 1,
    InvalidArgument = 2,
    NotSupported = 3,
    NoPermission = 4,
    AlreadyInitialized = 5,
    NotFound = 6,
    InsufficientSize = 7,
    InsufficientPower = 8,
    DriverNotLoaded = 9,
    Timeout = 10,
    IrqIssue = 11,
    LibraryNotFound = 12,
    FunctionNotFound = 13,
    CorruptedInforom = 14,
    GpuIsLost = 15,
    ResetRequired = 16,
    OperatingSystem = 17,
    LibRmVersionMismatch = 18,
    InUse = 19,
    Memory = 20,
    NoData = 21,
    VgpuEccNotEnabled = 22,
    InsufficientResources = 23,
    FreqNotSupported = 24,
    ArgumentVersionMismatch = 25,
    Deprecated = 26,
    NotReady = 27,
    GpuNotFound = 28,
    InvalidState = 29,
    Unknown = 999,
}

/// <summary>nvmlClockType_t.</summary>
public enum NvmlClockType
{
    Graphics = 0,
    Sm = 1,
    Memory = 2,
    Video = 3,
}

/// <summary>nvmlTemperatureSensors_t.</summary>
public enum NvmlTemperatureSensor
{
    Gpu = 0,
}

/// <summary>nvmlValueType_t: which member of the value union a field value holds.</summary>
public enum NvmlValueType
{
    Double = 0,
    UnsignedInt = 1,
    UnsignedLong = 2,
    UnsignedLongLong = 3,
    SignedLongLong = 4,
    SignedInt = 5,
    UnsignedShort = 6,
}

/// <summary>Field ids (NVML_FI_*) that Magneton reads through nvmlDeviceGetFieldValues.</summary>
public static class NvmlField
{
    /// <summary>NVML_FI_DEV_POWER_AVERAGE: mW averaged over 1 s (Ampere except GA100, and later).</summary>
    public const uint PowerAverage = 185;
    /// <summary>NVML_FI_DEV_POWER_INSTANT: current mW (on an H100 it still moves only every ~100 ms).</summary>
    public const uint PowerInstant = 186;
}

/// <summary>
/// nvmlFieldValue_t (40 bytes): fieldId, scopeId (0 = GPU for power fields), timestamp (us since 1970),
/// latencyUsec, valueType, nvmlReturn, and an 8-byte value union.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
public struct NvmlFieldValue
{
    [FieldOffset(0)] public uint FieldId;
    [FieldOffset(4)] public uint ScopeId;
    [FieldOffset(8)] public long TimestampUs;
    [FieldOffset(16)] public long LatencyUs;
    [FieldOffset(24)] public NvmlValueType ValueType;
    [FieldOffset(28)] public NvmlReturn Return;
    [FieldOffset(32)] public ulong RawValue;
    [FieldOffset(32)] public double DoubleValue;

    /// <summary>The value as an integer, whatever integral member of the union NVML filled; null for a failed field.</summary>
    public readonly long? AsInt64 => Return != NvmlReturn.Success ? null : ValueType switch
    {
        NvmlValueType.Double => double.IsFinite(DoubleValue) ? (long)Math.Round(DoubleValue) : null,
        NvmlValueType.UnsignedInt => (uint)RawValue,
        NvmlValueType.UnsignedLong or NvmlValueType.UnsignedLongLong => RawValue > long.MaxValue ? null : (long)RawValue,
        NvmlValueType.SignedLongLong => (long)RawValue,
        NvmlValueType.SignedInt => (int)(uint)RawValue,
        NvmlValueType.UnsignedShort => (ushort)RawValue,
        _ => null,
    };
}
