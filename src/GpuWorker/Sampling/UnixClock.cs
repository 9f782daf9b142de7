using System.Diagnostics;

namespace Magneton.GpuWorker.Sampling;

/// <summary>
/// Unix time in nanoseconds that never goes backwards: the wall clock read once, advanced by the monotonic
/// high-resolution timer. Samples taken with it are ordered even if NTP steps the wall clock during a capture, and
/// they agree with the probe's time.time_ns() marks to within the clock's drift over the run.
/// </summary>
public static class UnixClock
{
    static readonly long AnchorNs = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
    static readonly long AnchorTimestamp = Stopwatch.GetTimestamp();

    public static long NowNs()
    {
        long elapsed = Stopwatch.GetTimestamp() - AnchorTimestamp;
        return AnchorNs + (long)(elapsed * (1e9 / Stopwatch.Frequency));
    }
}
