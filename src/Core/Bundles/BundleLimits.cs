namespace Magneton.Core.Bundles;

/// <summary>
/// Hard ceilings that turn a hostile or runaway input into a clear error instead of an OutOfMemoryException.
/// Whole-file readers load the file into one array, which .NET caps just under 2 GiB anyway.
/// </summary>
public static class BundleLimits
{
    /// <summary>Largest file that is read whole (JSON documents and CSVs).</summary>
    public const long MaxWholeFileBytes = 2L * 1024 * 1024 * 1024 - 64 * 1024;

    /// <summary>A single JSON token (one kernel name, one number) larger than this is garbage, not a trace.</summary>
    public const int MaxTraceTokenBytes = 64 * 1024 * 1024;

    /// <summary>The streamed trace is read in pieces; this bounds an upload of it, not memory.</summary>
    public const long MaxTraceFileBytes = 64L * 1024 * 1024 * 1024;

    /// <summary>The largest a bundle file of this name may be (what a cluster accepts in an upload).</summary>
    public static long MaxFileBytes(string name) => name == BundleFiles.Kineto ? MaxTraceFileBytes : MaxWholeFileBytes;

    public static string Describe(long bytes) => bytes >= 1L << 30
        ? $"{bytes / (double)(1L << 30):0.0} GiB"
        : bytes >= 1L << 20 ? $"{bytes / (double)(1L << 20):0.0} MiB" : $"{bytes} bytes";
}
