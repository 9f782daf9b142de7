using Magneton.Core.Bundles;
using Xunit;

namespace Magneton.Tests.Bundles;

/// <summary>The trace reduction on small hand-written traces whose answer is known by construction.</summary>
public sealed class KinetoReaderTests
{
    // Events deliberately out of time order, with fields in unusual orders, a string pid, an escaped kernel name,
    // nested ranges, a launch on another thread and GPU work outside every range.
    private const string Trace = """
    {
      "schemaVersion": 1,
      "deviceProperties": [ {"id": 0, "name": "Test GPU", "numSms": 1}, {"id": 1, "name": "Other GPU"} ],
      "baseTimeNanoseconds": 1700000000000000000,
      "traceEvents": [
        {"ph": "X", "cat": "kernel", "name": "k1", "pid": 0, "tid": 7, "ts": 1060.5, "dur": 10, "args": {"correlation": 5}},
        {"args": {"External id": 9, "correlation": 1}, "dur": 2, "ts": 110, "tid": 1, "pid": 1, "name": "cudaLaunchKernel", "cat": "cuda_runtime", "ph": "X"},
        {"ph": "X", "cat": "user_annotation", "name": "mg#0#6#aten.inner", "pid": 1, "tid": 1, "ts": 120, "dur": 30},
        {"ph": "X", "cat": "user_annotation", "name": "mg#0#5#aten.outer", "pid": 1, "tid": 1, "ts": 100, "dur": 100},
        {"ph": "X", "cat": "cuda_driver", "name": "cuLaunchKernel", "pid": 1, "tid": 1, "ts": 125, "dur": 1, "args": {"correlation": 2}},
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaMemsetAsync", "pid": 1, "tid": 1, "ts": 150, "dur": 1, "args": {"correlation": 3}},
        {"ph": "X", "cat": "kernel", "name": "k1", "pid": 0, "tid": 7, "ts": 200, "dur": 10, "args": {"correlation": 1, "grid": [1, 2, 3]}},
        {"ph": "X", "cat": "gpu_memset", "name": "k\u0032", "pid": 0, "tid": 7, "ts": 230, "dur": 5, "args": {"correlation": 3}},
        {"ph": "X", "cat": "gpu_memset", "name": "k2", "pid": 0, "tid": 7, "ts": 215, "dur": 5, "args": {"correlation": 2}},
        {"ph": "X", "cat": "user_annotation", "name": "mg#1#5#aten.outer", "pid": 1, "tid": 1, "ts": 1000, "dur": 100},
        {"ph": "X", "cat": "user_annotation", "name": "mg#1#7#aten.empty", "pid": 1, "tid": 1, "ts": 1150, "dur": 10},
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 2, "ts": 1050, "dur": 1, "args": {"correlation": 4}},
        {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": 1010, "dur": 1, "args": {"correlation": 5}},
        {"ph": "X", "cat": "kernel", "name": "k4", "pid": 0, "tid": 7, "ts": 1100, "dur": 20, "args": {"correlation": 4}},
        {"ph": "X", "cat": "kernel", "name": "k4b", "pid": 0, "tid": 7, "ts": 1110, "dur": 20, "args": {}},
        {"ph": "X", "cat": "kernel", "name": "kx", "pid": 0, "tid": 7, "ts": 0, "dur": 50, "args": {"correlation": 99}},
        {"ph": "X", "cat": "gpu_user_annotation", "name": "mg#0#5#aten.outer", "pid": 0, "tid": 7, "ts": 190, "dur": 50},
        {"ph": "X", "cat": "user_annotation", "name": "mg_sync_begin", "pid": 1, "tid": 1, "ts": 50.25, "dur": 5},
        {"ph": "X", "cat": "user_annotation", "name": "mg_sync_end", "pid": 1, "tid": 1, "ts": 1200.125, "dur": 5},
        {"ph": "X", "cat": "Trace", "name": "PyTorch Profiler (0)", "pid": "Spans", "tid": "PyTorch Profiler", "ts": 0, "dur": 2000},
        {"name": "process_name", "ph": "M", "ts": 0, "pid": 1, "tid": 0, "args": {"name": "python3"}},
        {"ph": "i", "s": "g", "pid": "Traces", "tid": "Trace", "ts": 0}
      ],
      "traceName": "test"
    }
    """;

    private static KinetoSummary Reduce(string json)
    {
        using var temp = new TempBundle();
        TempBundle.WriteGzip(temp.File(BundleFiles.Kineto), json);
        return KinetoReader.Read(temp.File(BundleFiles.Kineto));
    }

    [Fact]
    public void Launches_go_to_the_innermost_range_and_kernels_to_their_launch()
    {
        var k = Reduce(Trace);
        Assert.Equal(22, k.EventCount);
        Assert.Equal(2, k.Iterations);
        Assert.Equal("Test GPU", k.DeviceName);
        Assert.Equal(1700000000000000000L, k.BaseTimeNanoseconds);
        Assert.Equal(50.25, k.SyncBeginTs);
        Assert.Equal(1200.125, k.SyncEndTs);
        Assert.Equal([5, 6, 7], k.Operators.Keys.ToArray());

        var outer = k.Operators[5];
        Assert.Equal(("aten.outer", 2), (outer.Op, outer.Occurrences));
        var k1 = Assert.Single(outer.Kernels);
        Assert.Equal(("k1", "kernel", 2), (k1.Name, k1.Category, k1.Count));
        Assert.Equal(20e-6, k1.Seconds, 1e-15);
        Assert.Equal(20e-6, outer.GpuSecondsTotal, 1e-15);
        Assert.Equal(10e-6, outer.GpuSecondsPerIteration, 1e-15);

        // The launch at ts 150 sits on the inner range's closing edge, which is inclusive; the escaped "k\u0032" is k2.
        var inner = k.Operators[6];
        Assert.Equal(("aten.inner", 1), (inner.Op, inner.Occurrences));
        var k2 = Assert.Single(inner.Kernels);
        Assert.Equal(("k2", "gpu_memset", 2), (k2.Name, k2.Category, k2.Count));
        Assert.Equal(10e-6, inner.GpuSecondsTotal, 1e-15);

        var empty = k.Operators[7];
        Assert.Equal(("aten.empty", 1, 0.0), (empty.Op, empty.Occurrences, empty.GpuSecondsTotal));
        Assert.Empty(empty.Kernels);

        // Busy inside [100, 1160] us: 10 + 5 + 5 + 10 + [1100, 1130] = 60 us; kx lies before the first range.
        Assert.Equal(60e-6, k.GpuBusySeconds, 1e-15);
        Assert.Equal(1060e-6, k.PassSeconds, 1e-15);
    }

    [Fact]
    public void Without_ranges_busy_time_covers_the_whole_trace()
    {
        var k = Reduce("""
            {"traceEvents": [
              {"ph": "X", "cat": "kernel", "name": "a", "pid": 0, "tid": 7, "ts": 0, "dur": 50, "args": {"correlation": 1}},
              {"ph": "X", "cat": "gpu_memcpy", "name": "b", "pid": 0, "tid": 7, "ts": 40, "dur": 20, "args": {"correlation": 2}},
              {"ph": "X", "cat": "kernel", "name": "c", "pid": 0, "tid": 7, "ts": 100, "dur": 1.5}
            ]}
            """);
        Assert.Equal(0, k.Iterations);
        Assert.Empty(k.Operators);
        Assert.Equal(61.5e-6, k.GpuBusySeconds, 1e-15);
        Assert.Equal(0, k.PassSeconds);
        Assert.Null(k.DeviceName);
        Assert.Null(k.SyncBeginTs);
        Assert.Equal(0, k.BaseTimeNanoseconds);
    }

    [Fact]
    public void A_kernel_name_longer_than_the_read_buffer_survives_buffer_growth()
    {
        var longName = "kernel_" + new string('x', 3 * 1024 * 1024);
        var k = Reduce($$$"""
            {"traceEvents": [
              {"ph": "X", "cat": "user_annotation", "name": "mg#0#1#aten.big", "pid": 1, "tid": 1, "ts": 10, "dur": 10},
              {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": 12, "dur": 1, "args": {"correlation": 8}},
              {"ph": "X", "cat": "kernel", "name": "{{{longName}}}", "pid": 0, "tid": 7, "ts": 30, "dur": 4, "args": {"correlation": 8}}
            ]}
            """);
        Assert.Equal(longName, Assert.Single(k.Operators[1].Kernels).Name);
    }

    [Theory]
    [InlineData("4847596376421.436", 4847596376421436L)]
    [InlineData("7349.923", 7349923L)]
    [InlineData("12", 12000L)]
    [InlineData("0.5", 500L)]
    [InlineData("1.0005", 1001L)]
    [InlineData("1.0004", 1000L)]
    [InlineData("-2.25", -2250L)]
    [InlineData("1.5e3", 1500000L)]
    [InlineData("4847596376421.4361234", 4847596376421436L)]
    public void Microseconds_parse_to_exact_nanoseconds(string text, long nanos)
    {
        Assert.True(TraceTime.TryParseMicrosAsNanos(System.Text.Encoding.ASCII.GetBytes(text), out long parsed));
        Assert.Equal(nanos, parsed);
    }
}
