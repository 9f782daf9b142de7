namespace Magneton.Grains;

/// <summary>Silo-local counts of the work the grains did (tests and diagnostics read them).</summary>
public sealed class MagnetonCounters
{
    long _ingestions, _sessions, _segments, _diagnoses, _jobs;

    public long Ingestions => Interlocked.Read(ref _ingestions);
    public long SessionsPrepared => Interlocked.Read(ref _sessions);
    public long SegmentsMatched => Interlocked.Read(ref _segments);
    public long Diagnoses => Interlocked.Read(ref _diagnoses);
    public long Jobs => Interlocked.Read(ref _jobs);

    internal void Ingested() => Interlocked.Increment(ref _ingestions);
    internal void Prepared() => Interlocked.Increment(ref _sessions);
    internal void AddSegmentsMatched(int count) => Interlocked.Add(ref _segments, count);
    internal void Diagnosed() => Interlocked.Increment(ref _diagnoses);
    internal void JobRan() => Interlocked.Increment(ref _jobs);
}
