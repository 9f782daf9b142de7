using System.Text.Json.Serialization;
using Magneton.Core.Bundles;

namespace Magneton.Core.Reporting;

/// <summary>
/// Where and when a run was captured, for the reader to judge whether two runs are comparable: the machine
/// (measure.json "node", else the trace's GPU name), the framework versions (context.json "versions") and the
/// start of the capture's uninstrumented baseline. Null fields: the bundle does not say.
/// </summary>
public sealed record CaptureInfo(
    [property: JsonPropertyName("host")] string? Host,
    [property: JsonPropertyName("gpu")] string? Gpu,
    [property: JsonPropertyName("driver")] string? Driver,
    [property: JsonPropertyName("torch")] string? Torch,
    [property: JsonPropertyName("transformers")] string? Transformers,
    [property: JsonPropertyName("captured_at")] DateTimeOffset? CapturedAt)
{
    public static CaptureInfo Of(Bundle b)
    {
        string? Version(string package) => b.Context?.Versions.TryGetValue(package, out var v) == true ? v : null;
        long start = b.Measure.Baseline.WindowStartNs;
        return new CaptureInfo(b.Measure.Node?.Host, b.Measure.Node?.Gpu ?? b.Kineto.DeviceName, b.Measure.Node?.Driver,
            Version("torch"), Version("transformers"),
            start > 0 ? DateTimeOffset.UnixEpoch.AddTicks(start / 100) : null);
    }
}
