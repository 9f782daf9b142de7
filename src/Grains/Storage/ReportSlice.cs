namespace Magneton.Grains.Storage;

/// <summary>The bounds of a slice of a stored report, checked alike by every store.</summary>
internal static class ReportSlice
{
    /// <summary>How many bytes a slice from <paramref name="offset"/> of at most <paramref name="maxBytes"/> holds.</summary>
    public static int Length(string jobId, long offset, int maxBytes, long total)
    {
        if (offset < 0 || offset > total)
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"job {jobId}: the report is {total} bytes");
        if (maxBytes < 1) throw new ArgumentOutOfRangeException(nameof(maxBytes), maxBytes, "a slice is at least one byte");
        return (int)Math.Min(Math.Min(maxBytes, ReportChunk.MaxBytes), total - offset);
    }
}
