using Magneton.GpuWorker.Capture;
using Xunit;

namespace Magneton.Tests.GpuWorker;

/// <summary>The worker's workload file and what a workload lets a submitter add.</summary>
public sealed class WorkloadFileTests
{
    const string File = "/etc/magneton/workloads.json";

    static Workload Gpt2 => WorkloadFile.Parse("""
        {"workloads": {"gpt2": {"command": ["python3", "/models/gpt2.py", "--fp16"], "cwd": "/models",
          "env": {"HF_HUB_OFFLINE": "1"}, "args": ["--activation=gelu_new|gelu_pytorch_tanh", "--steps=[0-9]{1,3}", "--compile"]}}}
        """, File)["gpt2"];

    [Fact]
    public void A_workload_adds_only_its_declared_arguments_after_its_own_command()
    {
        var w = Gpt2;
        Assert.Equal("/models", w.WorkingDirectory);
        Assert.Equal("1", w.Environment["HF_HUB_OFFLINE"]);
        Assert.Equal(["python3", "/models/gpt2.py", "--fp16", "--activation", "gelu_new", "--steps", "20", "--compile"],
            w.CommandWith(["--activation", "gelu_new", "--steps=20", "--compile"]));
        Assert.Equal(["python3", "/models/gpt2.py", "--fp16"], w.CommandWith([]));
    }

    [Theory]
    [InlineData(new[] { "--api-key", "x" }, "argument '--api-key' is not declared by workload gpt2")]
    [InlineData(new[] { "job.py" }, "argument 'job.py' is not declared")]
    [InlineData(new[] { "--activation", "relu" }, "'relu' does not match gelu_new|gelu_pytorch_tanh")]
    [InlineData(new[] { "--activation=gelu_new;rm -rf /" }, "does not match")]
    [InlineData(new[] { "--steps", "1234" }, "does not match [0-9]{1,3}")]
    [InlineData(new[] { "--steps" }, "--steps of workload gpt2 needs a value")]
    [InlineData(new[] { "--compile=yes" }, "is a flag")]
    public void An_undeclared_argument_or_a_value_outside_its_pattern_is_refused(string[] given, string reason)
    {
        var e = Assert.Throws<JobRefusedException>(() => Gpt2.CommandWith(given));
        Assert.Contains(reason, e.Message);
    }

    [Theory]
    [InlineData("{}", "workloads: missing")]
    [InlineData("""{"workloads": {}}""", "workloads: empty")]
    [InlineData("""{"workloads": {"w": {}}}""", "workloads.w.command: missing")]
    [InlineData("""{"workloads": {"w": {"command": ["ls", "-l"]}}}""", "workloads.w.command: 'ls' is not a Python command")]
    [InlineData("""{"workloads": {"w": {"command": ["a.py"], "cwd": "rel"}}}""", "workloads.w.cwd: an absolute directory path")]
    [InlineData("""{"workloads": {"w": {"command": ["a.py"], "env": {"A": 1}}}}""", "workloads.w.env.A:")]
    [InlineData("""{"workloads": {"w": {"command": ["a.py"], "args": ["x"]}}}""", "workloads.w.args: 'x' is not --name")]
    [InlineData("""{"workloads": {"w": {"command": ["a.py"], "args": ["--x=("]}}}""", "workloads.w.args: '--x=(': not a regular expression")]
    [InlineData("""{"workloads": {"w": {"command": ["a.py"], "shell": true}}}""", "workloads.w.shell: unknown field")]
    [InlineData("""{"workloads": """, "not JSON")]
    public void A_bad_workload_file_is_one_line_naming_the_file_and_the_field(string json, string message)
    {
        var e = Assert.Throws<CaptureException>(() => WorkloadFile.Parse(json, File));
        Assert.StartsWith(File + ": ", e.Message);
        Assert.Contains(message, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Without_any_command_a_node_runs_only_its_workloads()
    {
        var policy = new JobPolicy(new Dictionary<string, Workload> { ["gpt2"] = Gpt2 }, allowAnyCommand: false);
        Assert.Equal("/models", policy.Resolve("gpt2", ["--compile"], []).WorkingDirectory);
        Assert.Contains("not started with --allow-any-command",
            Assert.Throws<JobRefusedException>(() => policy.Resolve(null, [], ["python3", "job.py"])).Message);
        Assert.Contains("workload bert is not allowed on this node (allowed: gpt2)",
            Assert.Throws<JobRefusedException>(() => policy.Resolve("bert", [], [])).Message);
        var open = new JobPolicy(new Dictionary<string, Workload>(), allowAnyCommand: true);
        Assert.Equal(["python3", "job.py"], open.Resolve(null, [], ["python3", "job.py"]).Command);
        Assert.Contains("is not a Python command", Assert.Throws<JobRefusedException>(() => open.Resolve(null, [], ["sh", "-c", "id"])).Message);
    }
}
