namespace Magneton.Core.Traces;

/// <summary>The reader's second half: time units, flow links and the finished <see cref="ProfilerTrace"/>.</summary>
public sealed partial class ProfilerTraceReader
{
    private void ExtendRecording(long end)
    {
        if (end > _recordingEnd) _recordingEnd = end;
    }

    /// <summary>
    /// Times are kept in nanoseconds. The first value too large for microseconds switches the whole trace to
    /// nanosecond units: what was read before (microseconds x 1000) is scaled back.
    /// </summary>
    private long Normalise(long value, bool isNanoseconds)
    {
        if (isNanoseconds && !_nanoseconds) SwitchToNanoseconds();
        if (_nanoseconds && !isNanoseconds) return value / 1000;
        return value;
    }

    private void SwitchToNanoseconds()
    {
        _nanoseconds = true;
        for (int i = 0; i < _eventCount; i++)
        {
            var ev = _events[i];
            _events[i] = ev with { Start = ev.Start / 1000, Duration = ev.Duration / 1000 };
        }
        for (int i = 0; i < _flows.Count; i++) _flows[i] = _flows[i] with { Ts = _flows[i].Ts / 1000 };
        if (_recordingEnd != long.MinValue) _recordingEnd /= 1000;
    }

    private ProfilerTrace Build(long fileBytes, long jsonBytes)
    {
        var events = _events.AsSpan(0, _eventCount).ToArray();
        long flowLinked = LinkFlows(events);
        return new ProfilerTrace
        {
            Path = _file,
            Names = _names.ToStrings(),
            Threads = _threads,
            Events = events,
            Rank = _rank,
            WorldSize = _worldSize,
            Backend = _backend,
            DeviceName = _deviceName,
            DisplayTimeUnit = _displayTimeUnit,
            BaseTimeNanoseconds = _baseTimeNs,
            SchemaVersion = _schemaVersion,
            NanosecondTimestamps = _nanoseconds,
            EntryCount = _entries,
            SkippedEvents = _skipped,
            PythonEvents = _python,
            NegativeDurations = _negativeDurations,
            FlowLinked = flowLinked,
            OtherCategories = OtherCategories(),
            RecordingEnd = _recordingEnd == long.MinValue ? 0 : _recordingEnd,
            CompressedBytes = fileBytes,
            JsonBytes = jsonBytes,
        };
    }

    private Dictionary<string, long> OtherCategories()
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int id = 0; id < _otherCategoryCounts.Count; id++) counts[_otherCategories.GetString(id)] = _otherCategoryCounts[id];
        return counts;
    }

    /// <summary>
    /// Launches and GPU activities without args.correlation are linked by their flow events instead: a flow start
    /// ("s") on the launch's thread at its ts, a flow end ("f") on the activity's stream at its ts, sharing an id.
    /// </summary>
    private long LinkFlows(TraceEvent[] events)
    {
        if (_flows.Count == 0) return 0;
        Dictionary<(int, long), long>? starts = null, ends = null;
        long linked = 0;
        for (int i = 0; i < events.Length; i++)
        {
            var ev = events[i];
            if (ev.HasCorrelation) continue;
            bool api = TraceEventKinds.IsApiCall(ev.Kind), gpu = TraceEventKinds.IsGpuActivity(ev.Kind);
            if (!api && !gpu) continue;
            if (starts is null)
            {
                starts = new();
                ends = new();
                foreach (var f in _flows) (f.Start ? starts : ends).TryAdd((f.Thread, f.Ts), f.Id);
            }
            if ((api ? starts : ends)!.TryGetValue((ev.Thread, ev.Start), out long id))
            {
                events[i] = ev with { Correlation = id };
                linked++;
            }
        }
        return linked;
    }
}
