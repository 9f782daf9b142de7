using System.Runtime.InteropServices;

namespace Magneton.GpuWorker.Nvml;

/// <summary>An NVML call failed. The message is one line naming the function and NVML's reason.</summary>
public class NvmlException : Exception
{
    public NvmlException(string message, NvmlReturn code = NvmlReturn.Unknown, string? function = null, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
        Function = function;
    }

    public NvmlReturn Code { get; }
    /// <summary>The NVML entry point that failed, when one did.</summary>
    public string? Function { get; }

    internal static NvmlException FromCode(string function, NvmlReturn code, string? what = null) =>
        new($"{function}{(what is null ? "" : " (" + what + ")")} failed: {Describe(code)}", code, function);

    /// <summary>NVML's own text for a code with the symbolic name, e.g. "Driver Not Loaded (NVML_ERROR_DRIVER_NOT_LOADED)".</summary>
    public static string Describe(NvmlReturn code)
    {
        string? text = null;
        try
        {
            var p = NvmlNative.ErrorString(code);
            if (p != IntPtr.Zero) text = Marshal.PtrToStringUTF8(p);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
        }
        var name = SymbolicName(code);
        return string.IsNullOrWhiteSpace(text) ? name : $"{OneLine(text)} ({name})";
    }

    /// <summary>NVML_SUCCESS, NVML_ERROR_DRIVER_NOT_LOADED, ... as nvml.h spells them.</summary>
    public static string SymbolicName(NvmlReturn code) => code switch
    {
        NvmlReturn.Success => "NVML_SUCCESS",
        NvmlReturn.Uninitialized => "NVML_ERROR_UNINITIALIZED",
        NvmlReturn.InvalidArgument => "NVML_ERROR_INVALID_ARGUMENT",
        NvmlReturn.NotSupported => "NVML_ERROR_NOT_SUPPORTED",
        NvmlReturn.NoPermission => "NVML_ERROR_NO_PERMISSION",
        NvmlReturn.AlreadyInitialized => "NVML_ERROR_ALREADY_INITIALIZED",
        NvmlReturn.NotFound => "NVML_ERROR_NOT_FOUND",
        NvmlReturn.InsufficientSize => "NVML_ERROR_INSUFFICIENT_SIZE",
        NvmlReturn.InsufficientPower => "NVML_ERROR_INSUFFICIENT_POWER",
        NvmlReturn.DriverNotLoaded => "NVML_ERROR_DRIVER_NOT_LOADED",
        NvmlReturn.Timeout => "NVML_ERROR_TIMEOUT",
        NvmlReturn.IrqIssue => "NVML_ERROR_IRQ_ISSUE",
        NvmlReturn.LibraryNotFound => "NVML_ERROR_LIBRARY_NOT_FOUND",
        NvmlReturn.FunctionNotFound => "NVML_ERROR_FUNCTION_NOT_FOUND",
        NvmlReturn.CorruptedInforom => "NVML_ERROR_CORRUPTED_INFOROM",
        NvmlReturn.GpuIsLost => "NVML_ERROR_GPU_IS_LOST",
        NvmlReturn.ResetRequired => "NVML_ERROR_RESET_REQUIRED",
        NvmlReturn.OperatingSystem => "NVML_ERROR_OPERATING_SYSTEM",
        NvmlReturn.LibRmVersionMismatch => "NVML_ERROR_LIB_RM_VERSION_MISMATCH",
        NvmlReturn.InUse => "NVML_ERROR_IN_USE",
        NvmlReturn.Memory => "NVML_ERROR_MEMORY",
        NvmlReturn.NoData => "NVML_ERROR_NO_DATA",
        NvmlReturn.VgpuEccNotEnabled => "NVML_ERROR_VGPU_ECC_NOT_ENABLED",
        NvmlReturn.InsufficientResources => "NVML_ERROR_INSUFFICIENT_RESOURCES",
        NvmlReturn.FreqNotSupported => "NVML_ERROR_FREQ_NOT_SUPPORTED",
        NvmlReturn.ArgumentVersionMismatch => "NVML_ERROR_ARGUMENT_VERSION_MISMATCH",
        NvmlReturn.Deprecated => "NVML_ERROR_DEPRECATED",
        NvmlReturn.NotReady => "NVML_ERROR_NOT_READY",
        NvmlReturn.GpuNotFound => "NVML_ERROR_GPU_NOT_FOUND",
        NvmlReturn.InvalidState => "NVML_ERROR_INVALID_STATE",
        NvmlReturn.Unknown => "NVML_ERROR_UNKNOWN",
        _ => $"NVML error {(int)code}",
    };

    internal static string OneLine(string s) =>
        string.Join(' ', s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}

/// <summary>
/// NVML cannot be used on this host at all: no driver library, a driver without a function that enumerating the
/// devices needs, or nvmlInit failing (driver not loaded, library/kernel module mismatch, no permission). One line,
/// starting "NVML not available: ". (A reading whose function an old driver lacks is reported as unsupported instead.)
/// </summary>
public sealed class NvmlUnavailableException : NvmlException
{
    public const string NoDriverMessage =
        "NVML not available: libnvidia-ml.so.1 was not found (no NVIDIA driver on this host)";

    public NvmlUnavailableException(string message, NvmlReturn code = NvmlReturn.LibraryNotFound, string? function = null,
        Exception? inner = null) : base(message, code, function, inner)
    {
    }

    /// <summary>
    /// The exception for a load failure of the library or of one entry point, or null when <paramref name="e"/> is
    /// something else.
    /// </summary>
    internal static NvmlUnavailableException? FromLoadFailure(Exception e, string function) => e switch
    {
        NvmlUnavailableException u => u,
        DllNotFoundException => new NvmlUnavailableException(NoDriverMessage, NvmlReturn.LibraryNotFound, function, e),
        BadImageFormatException => new NvmlUnavailableException(
            "NVML not available: libnvidia-ml.so.1 could not be loaded (" + OneLine(e.Message) + ")",
            NvmlReturn.LibraryNotFound, function, e),
        EntryPointNotFoundException => new NvmlUnavailableException(
            $"NVML not available: the NVIDIA driver's libnvidia-ml.so.1 has no {function} (driver too old)",
            NvmlReturn.FunctionNotFound, function, e),
        _ => null,
    };
}
