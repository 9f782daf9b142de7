using System.Collections.Concurrent;
using System.Text.Json;
using Magneton.Core.Bundles;
using Magneton.Tests.Infrastructure;
using Magneton.Tests.Traces;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.GpuWorker;

/// <summary>
/// End to end on real PyTorch (CPU): `magneton capture --device cpu` of the example GPT-2 (real HF transformers and
/// the plain-torch path) with the two activations, and of torchvision's ResNet-18 in NCHW and channels_last, then
/// `magneton compare`; the probe's selftest and its torch unit tests. The interpreter is the one
/// scripts/torch-env.sh prints (a Debian sid chroot with torch 2.x), given as MAGNETON_TEST_PYTHON (.ci/run sets it).
/// One class, so its captures run one after another and share the machine with as little else as xunit allows.
/// </summary>
public sealed class RealTorchCpuTests(RealTorchCpuTests.Captures captures, ITestOutputHelper output)
    : IClassFixture<RealTorchCpuTests.Captures>
{
    /// <summary>Tiny GPT-2 (2 layers x 64, 2 heads, 1 x 16 tokens, float32): seconds per capture on a CPU.</summary>
    static readonly string[] TinyGpt2 = ["--layers", "2", "--width", "64", "--heads", "2", "--batch", "1", "--seq", "16", "--vocab", "128", "--dtype", "float32"];

    static string Example(string name) => Path.Combine(ProbePython.ProbeDir, "examples", name);

    /// <summary>Bundles captured once per key and shared by the tests that compare them.</summary>
    public sealed class Captures : IDisposable
    {
        readonly ConcurrentDictionary<string, Lazy<Task<string>>> _bundles = new();
        public TempDir Root { get; } = new();
        public StringWriter Log { get; } = new();

        public Task<string> Get(string key, params string[] command) =>
            _bundles.GetOrAdd(key, k => new Lazy<Task<string>>(() => CaptureAsync(k, command))).Value;

        async Task<string> CaptureAsync(string key, string[] command)
        {
            var dir = Root.File(key);
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            string[] args =
            [
                "capture", "--device", "cpu", "--python", TorchPython.Executable!, "--system", key, "--out", dir,
                "--baseline-seconds", "0.5", "--", .. command,
            ];
            // A generous deadline on the process' exit: a loaded 2-core machine runs these in ~20-40 s each.
            int code = await Magneton.Client.Program.RunAsync(args, stdout, stderr).WaitAsync(TimeSpan.FromMinutes(10));
            lock (Log) Log.WriteLine($"== capture {key}: exit {code}\n{stdout}\n{stderr}");
            Assert.True(code == 0, $"magneton capture {key} exited {code}:\n{stdout}\n{stderr}");
            return dir;
        }

        public void Dispose() => Root.Dispose();
    }

    async Task<JsonElement> Compare(string a, string b)
    {
        var json = captures.Root.File($"report-{Path.GetFileName(a)}-{Path.GetFileName(b)}.json");
        var r = await CliRunner.Run("compare", a, b, "--json", json).WaitAsync(TimeSpan.FromMinutes(5));
        output.WriteLine(r.Out);
        Assert.True(r.Code == 0, $"magneton compare exited {r.Code}: {r.Err}");
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        return doc.RootElement.Clone();
    }

    void Dump() => output.WriteLine(captures.Log.ToString());

    /// <summary>
    /// Both runs are CPU captures: no energy claimed, ranked by CPU time, matched almost entirely; the activation
    /// region pair (NewGELU's eight elementwise operators against one aten.gelu) is a finding whose cause is the
    /// operator set, naming the activation_function configuration.
    /// </summary>
    async Task AssertGeluPair(string a, string b, string implementation)
    {
        var bundle = BundleReader.Read(a);
        Assert.Equal(CaptureDevice.Cpu, bundle.Measure.Device);
        Assert.Null(bundle.Replay);
        Assert.Equal(0, bundle.Power.Count);
        Assert.Equal(implementation, bundle.Dataflow.Config["implementation"]);
        Assert.All(bundle.Kineto.Operators.Values, o => Assert.Empty(o.Kernels));
        Assert.Contains(bundle.Kineto.Operators.Values, o => o.HostSecondsMedian > 0);

        var r = await Compare(a, b);
        Assert.Equal("cpu_time", r.GetProperty("cost").GetString());
        foreach (var side in new[] { "a", "b" })
        {
            var s = r.GetProperty(side);
            Assert.Equal("cpu", s.GetProperty("device").GetString());
            Assert.False(s.GetProperty("energy_measured").GetBoolean());
            Assert.Equal(0, s.GetProperty("iteration_energy_j").GetDouble());
            Assert.Equal(0, s.GetProperty("gpu_energy_j").GetDouble());
            Assert.True(s.GetProperty("cpu_time_s").GetDouble() > 0);
        }
        var matching = r.GetProperty("matching");
        Assert.True(matching.GetProperty("a_coverage").GetDouble() >= 0.95, matching.ToString());
        Assert.True(matching.GetProperty("b_coverage").GetDouble() >= 0.95, matching.ToString());
        Assert.Contains(r.GetProperty("notes").EnumerateArray(), n => n.GetString()!.Contains("no GPU energy was measured"));

        string[] newGelu = ["aten.mul.Tensor", "aten.pow.Tensor_Scalar", "aten.mul.Tensor", "aten.add.Tensor", "aten.mul.Tensor", "aten.tanh.default", "aten.add.Tensor", "aten.mul.Tensor"];
        var regions = r.GetProperty("regions").EnumerateArray()
            .Where(g => g.GetProperty("a").GetProperty("ops").EnumerateArray().Select(o => o.GetString()).SequenceEqual(newGelu)
                        && g.GetProperty("b").GetProperty("ops").EnumerateArray().Select(o => o.GetString()).SequenceEqual(["aten.gelu.default"]))
            .Select(g => g.GetProperty("id").GetInt32()).ToList();
        Assert.Equal(2, regions.Count); // one per layer

        var findings = r.GetProperty("findings").EnumerateArray().ToList();
        Assert.All(findings, f => Assert.Equal("cpu-time", f.GetProperty("verdict").GetString()));
        Assert.All(findings, f => Assert.Equal(0, f.GetProperty("energy_delta_j").GetDouble()));
        var gelu = Assert.Single(findings, f => f.GetProperty("regions").EnumerateArray().Any(x => regions.Contains(x.GetInt32())));
        Assert.Equal("a", gelu.GetProperty("wasteful").GetString());
        Assert.True(gelu.GetProperty("cpu_time_delta_s").GetDouble() > 0);
        Assert.True(gelu.GetProperty("time_ratio").GetDouble() > 1.1);
        var cause = gelu.GetProperty("cause");
        Assert.Equal("operator-set", cause.GetProperty("kind").GetString());
        Assert.Equal(["aten.gelu.default"], cause.GetProperty("efficient_ops").EnumerateArray().Select(o => o.GetString()));
        Assert.Contains(cause.GetProperty("config").EnumerateArray(), c => c.GetProperty("key").GetString()!.EndsWith("activation_function", StringComparison.Ordinal)
            && c.GetProperty("a").GetString() == "gelu_new" && c.GetProperty("b").GetString() == "gelu_pytorch_tanh");
        Assert.Contains("CPU time", gelu.GetProperty("explanation").GetString());
    }

    [TorchFact]
    public async Task Hf_gpt2_pair_captured_on_the_cpu_finds_the_activation_by_cpu_time()
    {
        try
        {
            var a = await captures.Get("hf-gelu_new", [Example("gpt2_gelu.py"), "--activation", "gelu_new", .. TinyGpt2]);
            var b = await captures.Get("hf-gelu_pytorch_tanh", [Example("gpt2_gelu.py"), "--activation", "gelu_pytorch_tanh", .. TinyGpt2]);
            await AssertGeluPair(a, b, "transformers");
            var context = BundleReader.Read(a).Context!;
            Assert.StartsWith("transformers.", context.Modules["transformer.h.0.mlp.act"]);
        }
        finally { Dump(); }
    }

    [TorchFact]
    public async Task Plain_torch_gpt2_pair_captured_on_the_cpu_finds_the_activation_by_cpu_time()
    {
        try
        {
            var a = await captures.Get("builtin-gelu_new", [Example("gpt2_gelu.py"), "--activation", "gelu_new", "--builtin", .. TinyGpt2]);
            var b = await captures.Get("builtin-gelu_pytorch_tanh", [Example("gpt2_gelu.py"), "--activation", "gelu_pytorch_tanh", "--builtin", .. TinyGpt2]);
            await AssertGeluPair(a, b, "builtin");
        }
        finally { Dump(); }
    }

    [TorchFact]
    public async Task Two_cpu_captures_of_one_job_write_the_same_dataflow()
    {
        try
        {
            var first = await captures.Get("builtin-gelu_new", [Example("gpt2_gelu.py"), "--activation", "gelu_new", "--builtin", .. TinyGpt2]);
            var again = await captures.Get("builtin-gelu_new-again", [Example("gpt2_gelu.py"), "--activation", "gelu_new", "--builtin", .. TinyGpt2]);
            // dataflow.json holds no timings and no bundle path; the system name is the one difference asked for.
            var a = File.ReadAllText(Path.Combine(first, BundleFiles.Dataflow)).Replace("\"system\":\"builtin-gelu_new\"", "\"system\":\"S\"", StringComparison.Ordinal);
            var b = File.ReadAllText(Path.Combine(again, BundleFiles.Dataflow)).Replace("\"system\":\"builtin-gelu_new-again\"", "\"system\":\"S\"", StringComparison.Ordinal);
            Assert.Contains("\"spectra\"", a);
            Assert.True(a == b, "two captures of the same job wrote different dataflow.json");
            // The timings do differ: the runs really were two.
            Assert.NotEqual(File.ReadAllText(Path.Combine(first, BundleFiles.Measure)), File.ReadAllText(Path.Combine(again, BundleFiles.Measure)));
        }
        finally { Dump(); }
    }

    [TorchFact]
    public async Task Resnet18_nchw_against_channels_last_is_reported_as_layout()
    {
        try
        {
            var a = await captures.Get("resnet18-nchw", [Example("resnet_layout.py"), "--memory-format", "contiguous"]);
            var b = await captures.Get("resnet18-channels_last", [Example("resnet_layout.py"), "--memory-format", "channels_last"]);
            var r = await Compare(a, b);
            var matching = r.GetProperty("matching");
            Assert.True(matching.GetProperty("a_coverage").GetDouble() >= 0.95, matching.ToString());
            Assert.True(matching.GetProperty("b_coverage").GetDouble() >= 0.95, matching.ToString());
            var findings = r.GetProperty("findings").EnumerateArray().ToList();
            Assert.NotEmpty(findings);
            Assert.All(findings, f =>
            {
                Assert.Equal("cpu-time", f.GetProperty("verdict").GetString());
                Assert.Equal("layout", f.GetProperty("cause").GetProperty("kind").GetString());
                Assert.Contains(f.GetProperty("cause").GetProperty("config").EnumerateArray(),
                    c => c.GetProperty("key").GetString()!.EndsWith("memory_format", StringComparison.Ordinal));
            });
            Assert.Contains(findings, f => f.GetProperty("where").GetString()!.Contains("conv", StringComparison.Ordinal));
        }
        finally { Dump(); }
    }

    [TorchFact]
    public async Task Selftest_matches_the_pure_fingerprints_on_cpu_tensors_of_every_float_dtype()
    {
        var r = await ProbePython.RunAsync(["-m", "magneton_probe", "selftest", "--device", "cpu"], TimeSpan.FromMinutes(10), python: TorchPython.Executable);
        output.WriteLine(r.Out + r.Err);
        Assert.True(r.Code == 0, r.Out + r.Err);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var dtype in new[] { "float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "complex64", "complex128" })
            Assert.Contains(lines, l => l.StartsWith(dtype + " ", StringComparison.Ordinal) && l.EndsWith(" ok", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains("FAIL", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("selftest on cpu", StringComparison.Ordinal) && l.EndsWith(": OK", StringComparison.Ordinal));
    }
}

/// <summary>The real-PyTorch interpreter: MAGNETON_TEST_PYTHON (the wrapper scripts/torch-env.sh prints).</summary>
internal static class TorchPython
{
    public const string Variable = "MAGNETON_TEST_PYTHON";

    public static string? Executable { get; } = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } p ? p : null;
}

/// <summary>A fact that needs real PyTorch; skipped, with the reason, where MAGNETON_TEST_PYTHON is not set.</summary>
public sealed class TorchFactAttribute : FactAttribute
{
    public TorchFactAttribute()
    {
        if (TorchPython.Executable is null)
            Skip = $"{TorchPython.Variable} is not set: real-PyTorch tests need the interpreter that scripts/torch-env.sh prints (.ci/run sets it)";
    }
}
