namespace Magneton.Core.Bundles;

/// <summary>The Kineto event categories the reduction looks at; everything else is Other.</summary>
internal enum TraceCategory : byte
{
    Other,
    UserAnnotation,
    CudaRuntime,
    CudaDriver,
    Kernel,
    GpuMemcpy,
    GpuMemset,
}

internal static class TraceCategories
{
    public static TraceCategory Parse(ReadOnlySpan<byte> cat) => cat.Length switch
    {
        6 when cat.SequenceEqual("kernel"u8) => TraceCategory.Kernel,
        10 when cat.SequenceEqual("gpu_memcpy"u8) => TraceCategory.GpuMemcpy,
        10 when cat.SequenceEqual("gpu_memset"u8) => TraceCategory.GpuMemset,
        11 when cat.SequenceEqual("cuda_driver"u8) => TraceCategory.CudaDriver,
        12 when cat.SequenceEqual("cuda_runtime"u8) => TraceCategory.CudaRuntime,
        15 when cat.SequenceEqual("user_annotation"u8) => TraceCategory.UserAnnotation,
        _ => TraceCategory.Other,
    };

    public static string Name(TraceCategory category) => category switch
    {
        TraceCategory.Kernel => "kernel",
        TraceCategory.GpuMemcpy => "gpu_memcpy",
        TraceCategory.GpuMemset => "gpu_memset",
        TraceCategory.CudaDriver => "cuda_driver",
        TraceCategory.CudaRuntime => "cuda_runtime",
        TraceCategory.UserAnnotation => "user_annotation",
        _ => "other",
    };

    public static bool IsGpuActivity(TraceCategory category) =>
        category is TraceCategory.Kernel or TraceCategory.GpuMemcpy or TraceCategory.GpuMemset;
}
