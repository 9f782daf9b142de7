namespace Magneton.Core.Bundles;

/// <summary>
/// What an event's "cat" says it is, for every trace reader (bundle and plain). PyTorch 1.8-1.10 profilers wrote
/// other names for the same things ("Operator", "Runtime", "Kernel", "Memcpy", "Memset", "async" flows); other
/// accelerators write their own runtime and device categories (MTIA: "mtia_runtime", "mtia_ccp_events").
/// </summary>
internal enum TraceCategory : byte
{
    /// <summary>A category none of the readers analyses (counted by name where a reader reports it).</summary>
    Other,
    UserAnnotation,
    /// <summary>"cuda_runtime", old "Runtime", and any "*_runtime" (hip, mtia).</summary>
    Runtime,
    /// <summary>"cuda_driver" (cuLaunchKernel of Triton kernels) and any "*_driver".</summary>
    Driver,
    /// <summary>"kernel", old "Kernel", and MTIA's "mtia_ccp_events" (the device's compute work).</summary>
    Kernel,
    GpuMemcpy,
    GpuMemset,
    /// <summary>"cpu_op", old "Operator".</summary>
    CpuOp,
    Python,
    GpuAnnotation,
    /// <summary>Other device-side categories: "cuda_sync", "cuda_profiler_range", "gpu_*".</summary>
    GpuOther,
    /// <summary>"Trace": the profiler's own span.</summary>
    ProfilerSpan,
    /// <summary>Launch flows: "ac2g", "async_cpu_to_gpu", old "async".</summary>
    Flow,
    /// <summary>Known host-side categories nothing uses ("overhead", "fwdbwd"): not worth a note.</summary>
    HostOther,
}

internal static class TraceCategories
{
    public static TraceCategory Parse(ReadOnlySpan<byte> c)
    {
        switch (c.Length)
        {
            case 4 when c.SequenceEqual("ac2g"u8): return TraceCategory.Flow;
            case 5 when c.SequenceEqual("async"u8): return TraceCategory.Flow;
            case 5 when c.SequenceEqual("Trace"u8): return TraceCategory.ProfilerSpan;
            case 6 when c.SequenceEqual("cpu_op"u8): return TraceCategory.CpuOp;
            case 6 when c.SequenceEqual("kernel"u8) || c.SequenceEqual("Kernel"u8): return TraceCategory.Kernel;
            case 6 when c.SequenceEqual("Memcpy"u8): return TraceCategory.GpuMemcpy;
            case 6 when c.SequenceEqual("Memset"u8): return TraceCategory.GpuMemset;
            case 7 when c.SequenceEqual("Runtime"u8): return TraceCategory.Runtime;
            case 8 when c.SequenceEqual("Operator"u8): return TraceCategory.CpuOp;
            case 8 when c.SequenceEqual("overhead"u8) || c.SequenceEqual("Overhead"u8): return TraceCategory.HostOther;
            case 6 when c.SequenceEqual("fwdbwd"u8): return TraceCategory.HostOther;
            case 10 when c.SequenceEqual("gpu_memcpy"u8): return TraceCategory.GpuMemcpy;
            case 10 when c.SequenceEqual("gpu_memset"u8): return TraceCategory.GpuMemset;
            case 11 when c.SequenceEqual("cuda_driver"u8): return TraceCategory.Driver;
            case 12 when c.SequenceEqual("cuda_runtime"u8): return TraceCategory.Runtime;
            case 15 when c.SequenceEqual("user_annotation"u8): return TraceCategory.UserAnnotation;
            case 15 when c.SequenceEqual("python_function"u8): return TraceCategory.Python;
            case 15 when c.SequenceEqual("mtia_ccp_events"u8): return TraceCategory.Kernel;
            case 16 when c.SequenceEqual("async_cpu_to_gpu"u8): return TraceCategory.Flow;
            case 19 when c.SequenceEqual("gpu_user_annotation"u8): return TraceCategory.GpuAnnotation;
        }
        if (c.EndsWith("_runtime"u8)) return TraceCategory.Runtime;
        if (c.EndsWith("_driver"u8)) return TraceCategory.Driver;
        if (c.StartsWith("gpu_"u8) || c.StartsWith("cuda_sync"u8) || c.StartsWith("cuda_profiler"u8)) return TraceCategory.GpuOther;
        return TraceCategory.Other;
    }

    public static string Name(TraceCategory category) => category switch
    {
        TraceCategory.Kernel => "kernel",
        TraceCategory.GpuMemcpy => "gpu_memcpy",
        TraceCategory.GpuMemset => "gpu_memset",
        TraceCategory.Driver => "cuda_driver",
        TraceCategory.Runtime => "cuda_runtime",
        TraceCategory.UserAnnotation => "user_annotation",
        _ => "other",
    };

    public static bool IsGpuActivity(TraceCategory category) =>
        category is TraceCategory.Kernel or TraceCategory.GpuMemcpy or TraceCategory.GpuMemset;
}
