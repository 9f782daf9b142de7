namespace Magneton.Core.Bundles;

/// <summary>A kernel, memcpy or memset on the GPU; Sequence keeps file order for ties when sorting by time.</summary>
internal struct TraceActivity
{
    public long Start;
    public long Duration;
    public long Correlation;
    public int Name;
    public int Sequence;
    public TraceCategory Category;
}
