using System.Diagnostics;
using System.Globalization;

namespace Magneton.Grains;

/// <summary>
/// The wall time of a job's steps in the order they ended, and the silo's resident memory as each ended, for the
/// silo's "job done" line: where a slow or large job spent its time and memory (ingest, matching, the report's JSON,
/// the store) without a tracing backend.
/// </summary>
internal sealed class PhaseTimes
{
    readonly Stopwatch _clock = Stopwatch.StartNew();
    readonly List<(string Name, double Ms, long Resident)> _phases = [];
    double _last;

    /// <summary>Closes the step that ran since the previous one ended (or since the job started).</summary>
    public void End(string name)
    {
        double now = _clock.Elapsed.TotalMilliseconds;
        _phases.Add((name, now - _last, Environment.WorkingSet));
        _last = now;
    }

    public override string ToString() =>
        string.Join(", ", _phases.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Name} {p.Ms:F0} ms ({p.Resident / (1024.0 * 1024):F0} MiB)")));
}
