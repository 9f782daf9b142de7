namespace Magneton.Core.Bundles;

/// <summary>A CUDA runtime/driver call with a correlation id; its range is found after the whole trace is read.</summary>
internal struct TraceLaunch
{
    public long Ts;
    public long Correlation;
    public int Thread;
}
