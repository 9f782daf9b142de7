namespace Magneton.Core.Bundles;

/// <summary>One mg#&lt;iteration&gt;#&lt;trace_id&gt;#&lt;op&gt; range on a CPU thread; times in trace nanoseconds.</summary>
internal struct TraceRange
{
    public long Start;
    public long End;
    public int Thread;
    public int TraceId;
    public int Iteration;
    public int OpName;
}
