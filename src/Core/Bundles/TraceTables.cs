using System.Runtime.InteropServices;

namespace Magneton.Core.Bundles;

/// <summary>The compact tables the trace scanner fills and the reduction consumes.</summary>
internal sealed class TraceTables
{
    public readonly List<TraceRange> Ranges = [];
    public readonly List<TraceLaunch> Launches = [];
    public readonly List<TraceActivity> Activities = [];
    public readonly Utf8Interner Names = new();

    /// <summary>Kineto pids/tids are numbers or, for its own pseudo-threads, strings; both become a dense thread index.</summary>
    private readonly Dictionary<(long Pid, long Tid), int> _threads = [];

    public long EventCount;
    public long BaseTimeNanoseconds;
    public string? DeviceName;
    public long? SyncBeginNs;
    public long? SyncEndNs;

    public int Thread(long pid, long tid)
    {
        ref int slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_threads, (pid, tid), out bool exists);
        if (!exists) slot = _threads.Count - 1;
        return slot;
    }
}
