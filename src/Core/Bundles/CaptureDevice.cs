using System.Text.Json.Serialization;

namespace Magneton.Core.Bundles;

/// <summary>
/// Where a capture ran (measure.json "device"): "cuda", a GPU sampled through NVML (absent in older bundles), or
/// "cpu": no GPU and no energy counter, so the bundle has no power samples and null energies, and the analysis
/// reports matching, regions, causes and CPU time, never an energy. The JSON names are measure.json's and a report
/// side's "device".
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<CaptureDevice>))]
public enum CaptureDevice
{
    [JsonStringEnumMemberName("cuda")] Gpu,
    [JsonStringEnumMemberName("cpu")] Cpu,
}
