using Magneton.Core.Bundles;
using Magneton.Core.Traces;
using Xunit;

namespace Magneton.Tests.Traces;

/// <summary>The streaming profiler trace reader on every real trace of tests/data/hta, and on the edge cases.</summary>
public sealed class ProfilerTraceReaderTests
{
    [Theory]
    [MemberData(nameof(HtaData.AllTraces), MemberType = typeof(HtaData))]
    public void Every_HTA_trace_is_read_and_indexed(string relative)
    {
        var trace = ProfilerTraceReader.Read(HtaData.File(relative));
        if (HtaData.Expected.TryGetValue(relative, out long entries)) Assert.Equal(entries, trace.EntryCount);
        Assert.NotEmpty(trace.Events);
        Assert.Equal(0, trace.SkippedEvents);
        Assert.All(trace.Events, e => Assert.True(e.Duration >= 0));

        var index = TraceIndex.Build(trace);
        Assert.NotEmpty(index.Steps);
        var summary = TraceInspector.Summarise(trace.Rank ?? 0, index, 10);
        Assert.True(summary.Operators.Count > 0);
        // GPU busy time never exceeds the summed activity time, nor the span per device.
        Assert.True(summary.GpuBusyMs <= summary.GpuTimeMs + 1e-6);
    }

    [Fact]
    public void Trace_compare_base_step_1010_holds_what_HTA_asserts()
    {
        // HTA: 6 CPU events in iteration 1010 (ProfilerStep#1010, aten::empty, nccl:all_reduce, aten::as_strided,
        // cudaEventQuery, cudaLaunchKernel) and 1 GPU event. Our operator nodes leave out the step itself and API calls
        // that launch nothing (cudaEventQuery); the launch that runs outside any operator is a node.
        var index = TraceIndex.Build(ProfilerTraceReader.Read(HtaData.File("trace_compare/base/base.json.gz")));
        Assert.Equal(1, index.Trace.Rank);
        Assert.Equal([1009, 1010], index.Steps.Select(s => s.Number));
        Assert.All(index.Steps, s => Assert.True(s.Complete));
        int step = index.StepIndex(index.LastCompleteStep!);
        var nodes = Enumerable.Range(0, index.Trace.Events.Length).Where(i => index.IsNode[i] && index.StepOf[i] == step)
            .Select(index.Name).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["aten::as_strided", "aten::empty", "cudaLaunchKernel", "nccl:all_reduce"], nodes);
        int gpu = Enumerable.Range(0, index.Trace.Events.Length)
            .Count(i => TraceEventKinds.IsGpuActivity(index.Trace.Events[i].Kind) && index.StepOf[i] == step);
        Assert.Equal(1, gpu);
    }

    [Fact]
    public void Amd_ROCm_hip_launches_link_every_kernel_to_its_operator()
    {
        var trace = ProfilerTraceReader.Read(HtaData.File("amd_trace/mi250_minitoy_train_ROCm6_2_kineto.json.gz"));
        var index = TraceIndex.Build(trace);
        var kernels = Enumerable.Range(0, trace.Events.Length).Where(i => trace.Events[i].Kind == TraceEventKind.Kernel).ToList();
        Assert.Equal(14, kernels.Count);
        Assert.All(kernels, k => Assert.True(index.OwnerOf[k] >= 0, index.Name(k)));
        Assert.Contains(kernels, k => index.Name(index.LaunchOf[k]) == "hipExtModuleLaunchKernel");
        // The last ProfilerStep is the profiler stopping (no operators): not complete; step 1 is compared by default.
        Assert.Equal(1, index.LastCompleteStep!.Number);
        Assert.False(index.Steps[^1].Complete);
    }

    [Fact]
    public void Triton_kernel_launched_by_cuLaunchKernel_belongs_to_the_triton_operator()
    {
        var trace = ProfilerTraceReader.Read(HtaData.File("triton_example/triton_example.json.gz"));
        var index = TraceIndex.Build(trace);
        int kernel = Array.FindIndex(trace.Events, e => e.Kind == TraceEventKind.Kernel);
        Assert.Equal("cuLaunchKernel", index.Name(index.LaunchOf[kernel]));
        Assert.Equal(TraceEventKind.Driver, trace.Events[index.LaunchOf[kernel]].Kind);
        Assert.Equal("triton_poi_fused_add_cos_sin_0", index.Name(index.OwnerOf[kernel]));
        // ProfilerStep#1 runs 13 s past the end of the recording: there is no complete step.
        Assert.Null(index.LastCompleteStep);
        Assert.Equal("ms", trace.DisplayTimeUnit);
        Assert.Equal(1727743122000000000, trace.BaseTimeNanoseconds);
    }

    [Fact]
    public void Nanosecond_resolution_timestamps_keep_their_fractions()
    {
        var trace = ProfilerTraceReader.Read(HtaData.File("ns_resolution_trace/rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz"));
        Assert.False(trace.NanosecondTimestamps); // fractional microseconds, not integer nanoseconds
        Assert.Equal("ns", trace.DisplayTimeUnit);
        Assert.Contains(trace.Events, e => e.Start % 1000 != 0);
        var index = TraceIndex.Build(trace);
        Assert.Equal([101, 102, 103, 104, 105], index.Steps.Select(s => s.Number));
    }

    [Fact]
    public void Negative_queue_lengths_and_unlinked_activities_do_not_stop_the_reader()
    {
        var trace = ProfilerTraceReader.Read(HtaData.File("negative_queue_length_values_check/rank0.json.gz"));
        Assert.Equal(0, trace.Rank);
        Assert.Equal(16, trace.WorldSize);
        var index = TraceIndex.Build(trace);
        Assert.Equal([550, 551, 552, 553, 554], index.Steps.Select(s => s.Number));
        Assert.True(index.UnlinkedActivities > 0);
    }

    [Fact]
    public void Integer_nanosecond_timestamps_are_recognised()
    {
        using var dir = new TempDir();
        // 1.7e18: nanoseconds since 1970 (as microseconds it would be the year 55000).
        var path = dir.Write("ns.json", new TraceBuilder()
            .Raw("""{"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": 1700000000000001000, "dur": 5000, "args": {}}""")
            .Raw("""{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": 1700000000000002000, "dur": 100, "args": {"correlation": 9}}""")
            .Raw("""{"ph": "X", "cat": "kernel", "name": "gemm", "pid": 0, "tid": 7, "ts": 1700000000000003000, "dur": 2500, "args": {"correlation": 9}}""")
            .ToString());
        var trace = ProfilerTraceReader.Read(path);
        Assert.True(trace.NanosecondTimestamps);
        Assert.Equal([5000L, 100L, 2500L], trace.Events.Select(e => e.Duration));
        var index = TraceIndex.Build(trace);
        Assert.Equal(2500, index.InclusiveGpu[0]);
    }

    [Fact]
    public void Bare_event_arrays_flows_string_pids_missing_fields_and_huge_names_are_read()
    {
        using var dir = new TempDir();
        string huge = "k" + new string('x', 3 << 20); // one token larger than the 1 MiB buffer
        var json = "[" + string.Join(",\n",
            """{"ph": "X", "cat": "user_annotation", "name": "ProfilerStep#7", "pid": 1, "tid": 1, "ts": 100, "dur": 900}""",
            """{"ph": "X", "cat": "python_function", "name": "model.py(10): forward", "pid": 1, "tid": 1, "ts": 105, "dur": 800}""",
            """{"ph": "X", "cat": "cpu_op", "name": "aten::add\u005F", "pid": 1, "tid": 1, "ts": 110, "dur": 50}""",
            """{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1, "ts": 120.5, "dur": 4}""",
            """{"ph": "s", "cat": "ac2g", "name": "ac2g", "id": 77, "pid": 1, "tid": 1, "ts": 120.5}""",
            $$"""{"ph": "X", "cat": "kernel", "name": "{{huge}}", "pid": 0, "tid": 7, "ts": 130, "dur": 20}""",
            """{"ph": "f", "cat": "ac2g", "name": "ac2g", "id": 77, "pid": 0, "tid": 7, "ts": 130, "bp": "e"}""",
            """{"ph": "X", "cat": "cpu_op", "name": "no_dur", "pid": "Spans", "tid": "x", "ts": 200}""",
            """{"ph": "X", "cat": "cpu_op", "name": "no_ts", "pid": 1, "tid": 1}""",
            """{"ph": "X", "cat": "Trace", "name": "PyTorch Profiler (0)", "pid": "Spans", "tid": "PyTorch Profiler", "ts": 0, "dur": 2000}""") + "]";
        var trace = ProfilerTraceReader.Read(dir.Write("bare.json.gz", json, gzip: true));
        Assert.Equal(10, trace.EntryCount);
        Assert.Equal(1, trace.SkippedEvents);
        Assert.Equal(1, trace.PythonEvents);
        Assert.Equal(2, trace.FlowLinked); // neither launch nor kernel has args.correlation; the flow links them
        Assert.Equal(2000_000, trace.RecordingEnd);
        var index = TraceIndex.Build(trace);
        int kernel = Array.FindIndex(trace.Events, e => e.Kind == TraceEventKind.Kernel);
        Assert.Equal(huge, index.Name(kernel));
        Assert.Equal("aten::add_", index.Name(index.OwnerOf[kernel]));
        Assert.Contains(trace.Threads, t => t.Pid == "Spans");
        Assert.Equal(7, index.LastCompleteStep!.Number);
    }

    [Fact]
    public void Truncated_gzip_names_the_file_and_the_compression()
    {
        using var dir = new TempDir();
        var cut = dir.Truncated(HtaData.File("trace_diff/control/control.json.gz"), "control.json.gz");
        var e = Assert.Throws<BundleException>(() => ProfilerTraceReader.Read(cut));
        Assert.Equal(cut, e.File);
        Assert.Equal("gzip", e.Field);
        Assert.Contains("truncated", e.Problem);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("""{"traceEvents": [{"ph": "X", "name": "a", "ts": 1,, "dur": 2}]}""", "traceEvents[0]", "malformed JSON")]
    [InlineData("""{"traceEvents": [{"ph": "X", "name": "a", "ts": 1, "dur": 2}, {"ph": "X", "name": "b", "ts": """, "traceEvents[1]", "malformed JSON")]
    [InlineData("""{"traceEvents": [{"ph": "X", "name": "a", "ts": {"us": 1}}]}""", "traceEvents[0].ts", "expected a number")]
    [InlineData("""{"traceEvents": [{"ph": "X", "name": "a", "ts": 1, "dur": "soon"}]}""", "traceEvents[0].dur", "expected a number")]
    [InlineData("""{"traceEvents": [1, 2]}""", "traceEvents[0]", "expected an event object")]
    [InlineData("""{"traceEvents": {}}""", "traceEvents", "expected an array")]
    [InlineData("""{"schemaVersion": 1}""", "traceEvents", "is missing")]
    [InlineData("""42""", "json", "expected a JSON object or array")]
    [InlineData("", "file", "is empty")]
    public void Malformed_traces_name_the_file_and_the_field(string text, string field, string problem)
    {
        using var dir = new TempDir();
        var path = dir.Write("bad.json", text);
        var e = Assert.ThrowsAny<BundleException>(() => ProfilerTraceReader.Read(path));
        Assert.Equal(path, e.File);
        Assert.Equal(field, e.Field);
        Assert.Contains(problem, e.Problem);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Gzip_is_recognised_by_content_not_name()
    {
        using var dir = new TempDir();
        var text = new TraceBuilder(rank: 2).Op("aten::mm", 10, 5).ToString();
        Assert.Equal(2, ProfilerTraceReader.Read(dir.Write("plain.json.gz", text)).Rank);
        Assert.Equal(2, ProfilerTraceReader.Read(dir.Write("packed.json", text, gzip: true)).Rank);
    }
}

public sealed class TraceTimeParsingTests
{
    [Theory]
    [InlineData("1661938466265032", 1661938466265032000L, false)]
    [InlineData("4203669604595.407", 4203669604595407L, false)]
    [InlineData("1712195495519695.8", 1712195495519695800L, false)]
    [InlineData("0.0005", 1L, false)]
    [InlineData("-3.25", -3250L, false)]
    [InlineData("1.5e3", 1500000L, false)]
    [InlineData("1700000000000001000", 1700000000000001000L, true)]
    [InlineData("9000000000000000", 9000000000000000L, true)]
    public void Microseconds_become_nanoseconds(string text, long expected, bool nanoseconds)
    {
        Assert.True(TraceTime.TryParse(System.Text.Encoding.ASCII.GetBytes(text), out long value, out bool ns));
        Assert.Equal(expected, value);
        Assert.Equal(nanoseconds, ns);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("")]
    [InlineData("1.2.3")]
    public void Garbage_is_not_a_time(string text) =>
        Assert.False(TraceTime.TryParse(System.Text.Encoding.ASCII.GetBytes(text), out _, out _));
}
