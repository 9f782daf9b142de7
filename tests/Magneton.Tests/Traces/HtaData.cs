using System.IO.Compression;
using System.Text;
using Xunit;

namespace Magneton.Tests.Traces;

/// <summary>
/// The real profiler traces of Holistic Trace Analysis' test data in tests/data/hta (MIT, provenance in its README).
/// </summary>
public static class HtaData
{
    public static string RepoRoot => Grains.TestRepo.Root;

    public static string Root => Path.Combine(RepoRoot, "tests", "data", "hta");

    public static string File(string relative) => Path.Combine(Root, relative);

    /// <summary>Every trace under tests/data/hta with its number of traceEvents entries (counted with Python's json).</summary>
    public static readonly IReadOnlyDictionary<string, long> Expected = new Dictionary<string, long>
    {
        ["amd_trace/mi250_minitoy_train_ROCm6_2_kineto.json.gz"] = 220,
        ["critical_path/alexnet/benchmark_result_2869224_1695835535_trace.json.gz"] = 1408,
        ["cupti_profiler/benchmark_result_924719_1679055439_trace.json.gz"] = 4222,
        ["negative_queue_length_values_check/rank0.json.gz"] = 108936,
        ["ns_resolution_trace/rank-0.Apr_03_18_51_38.1102.pt.trace.json.gz"] = 68692,
        ["trace_compare/base/base.json.gz"] = 33,
        ["trace_compare/test/test.json.gz"] = 34,
        ["trace_diff/control/control.json.gz"] = 109123,
        ["trace_diff/test/test.json.gz"] = 105167,
        ["triton_example/triton_example.json.gz"] = 71,
    };

    /// <summary>Theory data: every *.json.gz found under the directory (so a trace added there is tested too).</summary>
    public static TheoryData<string> AllTraces()
    {
        var data = new TheoryData<string>();
        if (!Directory.Exists(Root)) throw new DirectoryNotFoundException($"the HTA traces are expected in {Root}");
        foreach (var f in Directory.EnumerateFiles(Root, "*.json*", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal))
            data.Add(Path.GetRelativePath(Root, f).Replace('\\', '/'));
        return data;
    }
}

/// <summary>A scratch directory under the system temp directory, deleted on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "magneton-traces-" + Guid.NewGuid().ToString("N"));

    public TempDir() => Directory.CreateDirectory(Path);

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Write(string name, string text, bool gzip = false)
    {
        var path = File(name);
        var bytes = new UTF8Encoding(false).GetBytes(text);
        if (!gzip)
        {
            System.IO.File.WriteAllBytes(path, bytes);
            return path;
        }
        using var fs = System.IO.File.Create(path);
        using var gz = new GZipStream(fs, CompressionLevel.Fastest);
        gz.Write(bytes);
        return path;
    }

    /// <summary>The first <paramref name="keep"/> of a file, as a cut-short download leaves it.</summary>
    public string Truncated(string source, string name, double keep = 0.5)
    {
        var bytes = System.IO.File.ReadAllBytes(source);
        var path = File(name);
        System.IO.File.WriteAllBytes(path, bytes.AsSpan(0, (int)(bytes.Length * keep)).ToArray());
        return path;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Builds small Kineto-like traces for the cases the real ones do not cover.</summary>
public sealed class TraceBuilder
{
    private readonly List<string> _events = new();
    private readonly string _header;

    public TraceBuilder(int? rank = null, string extraHeader = "") =>
        _header = (rank is { } r ? $"\"distributedInfo\": {{\"rank\": {r}}}, " : "") + extraHeader;

    static string J(string s) => System.Text.Json.JsonSerializer.Serialize(s);

    public TraceBuilder Op(string name, double ts, double dur, int tid = 1, string cat = "cpu_op")
    {
        _events.Add($"{{\"ph\": \"X\", \"cat\": \"{cat}\", \"name\": {J(name)}, \"pid\": 100, \"tid\": {tid}, \"ts\": {F(ts)}, \"dur\": {F(dur)}, \"args\": {{\"External id\": {_events.Count}}}}}");
        return this;
    }

    public TraceBuilder Step(int n, double ts, double dur) => Op($"ProfilerStep#{n}", ts, dur, cat: "user_annotation");

    /// <summary>A cudaLaunchKernel at <paramref name="ts"/> and its kernel on stream 7.</summary>
    public TraceBuilder Launch(long correlation, double ts, string kernel, double kernelTs, double kernelDur, int tid = 1, string api = "cudaLaunchKernel", string cat = "cuda_runtime")
    {
        _events.Add($"{{\"ph\": \"X\", \"cat\": \"{cat}\", \"name\": \"{api}\", \"pid\": 100, \"tid\": {tid}, \"ts\": {F(ts)}, \"dur\": 1, \"args\": {{\"correlation\": {correlation}}}}}");
        _events.Add($"{{\"ph\": \"X\", \"cat\": \"kernel\", \"name\": {J(kernel)}, \"pid\": 0, \"tid\": 7, \"ts\": {F(kernelTs)}, \"dur\": {F(kernelDur)}, \"args\": {{\"device\": 0, \"stream\": 7, \"correlation\": {correlation}}}}}");
        return this;
    }

    public TraceBuilder Raw(string json)
    {
        _events.Add(json);
        return this;
    }

    static string F(double x) => x.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture);

    public override string ToString() => $"{{{_header}\"traceEvents\": [\n{string.Join(",\n", _events)}\n]}}";
}
