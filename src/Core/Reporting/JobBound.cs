using System.Text.Json.Serialization;
using Magneton.Core.Runs;

namespace Magneton.Core.Reporting;

/// <summary>Whether shorter kernels shorten a side's job (a report side's "bound").</summary>
[JsonConverter(typeof(JsonNameConverter<JobBound>))]
public enum JobBound
{
    /// <summary>Not worked out: plain profiler traces (Traces), whose reports write "".</summary>
    [JsonStringEnumMemberName("")] None,
    /// <summary>The GPU is busy through the iteration: shorter kernels shorten the job.</summary>
    [JsonStringEnumMemberName("gpu-bound")] GpuBound,
    /// <summary>The host keeps the GPU waiting: shorter kernels leave it idle longer instead.</summary>
    [JsonStringEnumMemberName("host-bound")] HostBound,
}
