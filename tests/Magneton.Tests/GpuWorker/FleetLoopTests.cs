using System.Text.Json;
using Magneton.Client;
using Magneton.Grains;
using Magneton.Tests.Cluster;
using Magneton.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.GpuWorker;

/// <summary>One fleet of three fake GPU nodes (n1, n2, n3) for the tests of a class, started once.</summary>
public sealed class FleetFixture : IAsyncLifetime
{
    public FakeGpuFleet Fleet { get; } = new();

    public async Task InitializeAsync()
    {
        if (FakeNvml.Gcc is null || ProbePython.Executable is null) return; // the facts are skipped
        await Fleet.StartAsync();
        foreach (var node in new[] { "n1", "n2", "n3" }) await Fleet.StartNodeAsync(node, FakeGpuFleet.WorkloadFile());
    }

    public async Task DisposeAsync() => await Fleet.DisposeAsync();
}

/// <summary>
/// The users' two loops end to end on a localhost cluster of fake GPU nodes (NVML test double, the probe's synthetic
/// job): <c>audit --capture</c> captures the job on every node, flags the node whose captures do extra work (its
/// workload file adds the job's --slow) with the cause, stores the audit, and the next day's audit shows each node's
/// trend against its own previous run; <c>campaign --capture</c> captures three versions on one GPU and ranks the
/// slow one as the regression. The "day" is the audit's --date, not the clock.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class FleetLoopTests(FleetFixture fixture, ITestOutputHelper output) : IClassFixture<FleetFixture>
{
    FakeGpuFleet Fleet => fixture.Fleet;

    async Task<JsonDocument> AuditAsync(string system, string date, params string[] extra)
    {
        var r = await CliRunner.Run(["audit", "--cluster", Fleet.Cluster, "--capture", "--system", system, "--workload", "synth",
            "--date", date, "--json", "-", .. extra, "--", "--activation", "gelu_pytorch_tanh"]);
        output.WriteLine(r.Err);
        Assert.True(r.Code == 0, $"audit exited {r.Code}: {r.Err}");
        return JsonDocument.Parse(r.Out);
    }

    static JsonElement Node(JsonElement audit, string name) =>
        audit.GetProperty("nodes").EnumerateArray().Single(n => n.GetProperty("host").GetString() == name);

    static JsonElement Trend(JsonElement audit, string name) =>
        audit.GetProperty("trend").GetProperty("nodes").EnumerateArray().Single(n => n.GetProperty("node").GetString() == name);

    /// <summary>A waste finding of the named node's comparison, where it (side b) spends more: the slower matrix-product kernel.</summary>
    static void AssertSlowKernelCause(JsonElement findings)
    {
        var waste = findings.EnumerateArray().Where(f => f.GetProperty("verdict").GetString() == "waste").ToList();
        var f = Assert.Single(waste);
        Assert.Equal("b", f.GetProperty("wasteful").GetString());
        Assert.Equal("kernel-choice", f.GetProperty("cause").GetProperty("kind").GetString());
        Assert.Contains("h.*.fc", f.GetProperty("where").GetString());
        Assert.InRange(f.GetProperty("energy_ratio").GetDouble(), 2.5, 3.5); // the slow kernel takes 3x
    }

    [WorkerFact]
    public async Task An_audit_flags_the_slow_node_with_its_cause_and_the_next_days_audit_shows_each_nodes_trend()
    {
        // Day 1: n3's workload file adds --slow to the job (extra work in its matrix products).
        await Fleet.StartNodeAsync("n3", FakeGpuFleet.WorkloadFile(fixedArgs: "\"--slow\""));
        using var day1 = await AuditAsync("synth-fleet", "2026-03-01");
        var a = day1.RootElement;
        Assert.Equal("synth-fleet", a.GetProperty("job").GetString());
        Assert.Equal(["n1/gpu0", "n2/gpu0", "n3/gpu0"], a.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("host").GetString()).Order());
        var outlier = Assert.Single(a.GetProperty("outliers").EnumerateArray());
        Assert.Equal(Node(a, "n3/gpu0").GetProperty("index").GetInt32(), outlier.GetProperty("node").GetInt32());
        Assert.InRange(outlier.GetProperty("energy_ratio").GetDouble(), 1.30, 1.37); // 4/3 of the iteration energy
        AssertSlowKernelCause(outlier.GetProperty("findings"));
        // The resolution is stated; the two agreeing nodes are within sensor error, not "fine by luck".
        Assert.Equal(0.05, a.GetProperty("resolution").GetProperty("sensor_tolerance").GetDouble());
        Assert.True(Node(a, "n1/gpu0").GetProperty("within_sensor_error").GetBoolean() || a.GetProperty("typical_node").GetInt32() == Node(a, "n1/gpu0").GetProperty("index").GetInt32());
        Assert.False(Node(a, "n3/gpu0").GetProperty("within_sensor_error").GetBoolean());
        Assert.Equal(JsonValueKind.Null, a.GetProperty("trend").ValueKind); // the system's first audit

        // Two nodes are no audit of outliers: it says so rather than clearing them (a system of its own).
        using var pair = await AuditAsync("synth-pair", "2026-03-01", "--nodes", "n1,n3");
        Assert.Empty(pair.RootElement.GetProperty("outliers").EnumerateArray());
        Assert.False(pair.RootElement.GetProperty("outliers_decidable").GetBoolean());

        // Day 2: n3 fixed, n2 now slow.
        await Fleet.StartNodeAsync("n3", FakeGpuFleet.WorkloadFile());
        await Fleet.StartNodeAsync("n2", FakeGpuFleet.WorkloadFile(fixedArgs: "\"--slow\""));
        using var day2 = await AuditAsync("synth-fleet", "2026-03-02");
        var b = day2.RootElement;
        Assert.Equal(Node(b, "n2/gpu0").GetProperty("index").GetInt32(), Assert.Single(b.GetProperty("outliers").EnumerateArray()).GetProperty("node").GetInt32());
        var trend = b.GetProperty("trend");
        Assert.StartsWith("audit-synth-fleet-20260301-", trend.GetProperty("previous_audit").GetString());
        var n2 = Trend(b, "n2/gpu0");
        Assert.Equal("rose", n2.GetProperty("direction").GetString());
        Assert.True(n2.GetProperty("flagged").GetBoolean());
        Assert.InRange(n2.GetProperty("energy_change").GetDouble(), 0.30, 0.37);
        // Compared operator by operator with its own previous run (side a): the same cause.
        Assert.Equal(Node(a, "n2/gpu0").GetProperty("run_id").GetString(), n2.GetProperty("previous_run_id").GetString());
        AssertSlowKernelCause(n2.GetProperty("findings"));
        Assert.Equal("fell", Trend(b, "n3/gpu0").GetProperty("direction").GetString());
        var n1 = Trend(b, "n1/gpu0");
        Assert.Equal("within sensor error", n1.GetProperty("direction").GetString());
        Assert.False(n1.GetProperty("flagged").GetBoolean());
        Assert.Empty(n1.GetProperty("findings").EnumerateArray());

        // The history: both audits under the system, by date, with the flagged nodes; each report kept in full.
        var listed = await CliRunner.Run("audits", "--cluster", Fleet.Cluster, "--system", "synth-fleet", "--json");
        Assert.Equal(0, listed.Code);
        using var history = JsonDocument.Parse(listed.Out);
        var entries = history.RootElement.EnumerateArray().ToList();
        Assert.Equal(2, entries.Count);
        Assert.Equal(["2026-03-01", "2026-03-02"], entries.Select(e => e.GetProperty("date").GetDateTimeOffset().ToString("yyyy-MM-dd")));
        Assert.Equal(["n3/gpu0"], Flagged(entries[0]));
        Assert.Equal(["n2/gpu0"], Flagged(entries[1]));
        Assert.Equal(trend.GetProperty("previous_audit").GetString(), entries[0].GetProperty("id").GetString());
        var stored = await CliRunner.Run("audits", "--cluster", Fleet.Cluster, "--report", entries[1].GetProperty("id").GetString()!);
        using var report = JsonDocument.Parse(stored.Out);
        Assert.Equal(b.GetProperty("nodes").GetRawText(), report.RootElement.GetProperty("nodes").GetRawText());
        var text = await CliRunner.Run("audits", "--cluster", Fleet.Cluster);
        Assert.Contains("3 audit(s)", text.Out); // synth-fleet twice, synth-pair once
    }

    static string[] Flagged(JsonElement entry) =>
        [.. entry.GetProperty("items").EnumerateArray().Where(i => i.GetProperty("flagged").GetBoolean()).Select(i => i.GetProperty("name").GetString()!)];

    [WorkerFact]
    public async Task A_campaign_of_three_captured_versions_ranks_the_slow_one_as_the_regression()
    {
        var r = await CliRunner.Run("campaign", "--cluster", Fleet.Cluster, "--capture", "--system", "synth-upgrade", "--date", "2026-03-02",
            "--baseline", "v1=synth --activation gelu_pytorch_tanh", "--version", "v2=synth --activation gelu_pytorch_tanh",
            "--version", "v3=synth --activation gelu_pytorch_tanh --slow", "--json", "-");
        output.WriteLine(r.Err);
        Assert.True(r.Code == 0, $"campaign exited {r.Code}: {r.Err}");
        using var doc = JsonDocument.Parse(r.Out);
        var c = doc.RootElement;
        Assert.Equal("v1", c.GetProperty("baseline").GetProperty("system").GetString());
        var versions = c.GetProperty("versions").EnumerateArray().ToList();
        Assert.Equal(["v2", "v3"], versions.Select(v => v.GetProperty("run").GetProperty("system").GetString()));
        Assert.Equal(0, versions[0].GetProperty("waste_in_version").GetInt32());
        Assert.InRange(versions[0].GetProperty("energy_ratio").GetDouble(), 0.95, 1.05);
        AssertSlowKernelCause(versions[1].GetProperty("findings"));
        var regression = Assert.Single(c.GetProperty("regressions").EnumerateArray());
        Assert.Equal(1, regression.GetProperty("to").GetInt32());
        Assert.InRange(regression.GetProperty("energy_ratio").GetDouble(), 1.30, 1.37);

        // Every version ran on the same GPU (the first alive worker): no board-to-board sensor difference entered.
        await using var connection = await ClusterConnection.ConnectAsync(Fleet.Cluster);
        var jobs = (await connection.Client.GetGrain<ICaptureSchedulerGrain>(CaptureWorker.Scheduler).Jobs())
            .Where(j => j.Spec.System is "v1" or "v2" or "v3").ToList();
        Assert.Equal(3, jobs.Count);
        Assert.All(jobs, j => Assert.Equal("n1/gpu0", j.Worker));

        var listed = await CliRunner.Run("campaigns", "--cluster", Fleet.Cluster, "--json");
        using var history = JsonDocument.Parse(listed.Out);
        var entry = Assert.Single(history.RootElement.EnumerateArray());
        Assert.Equal("synth-upgrade", entry.GetProperty("system").GetString());
        Assert.Equal("regression: v3", entry.GetProperty("verdict").GetString());
        Assert.Equal(["v3"], Flagged(entry));
    }

    /// <summary>
    /// The same campaign with real CPU captures: a worker (fake GPU, so that it starts) whose workload runs the example
    /// GPT-2 on the CPU (<c>"device": "cpu"</c>) under real PyTorch; gelu_new's unfused activation costs CPU time.
    /// </summary>
    [TorchWorkerFact]
    public async Task A_campaign_of_three_real_cpu_captures_ranks_the_slower_activation_as_the_regression()
    {
        await using var fleet = new FakeGpuFleet();
        await fleet.StartAsync();
        var script = Path.Combine(ProbePython.ProbeDir, "examples", "gpt2_gelu.py");
        string tiny = "\"--layers\", \"2\", \"--width\", \"64\", \"--heads\", \"2\", \"--batch\", \"1\", \"--seq\", \"16\", \"--vocab\", \"128\", \"--dtype\", \"float32\"";
        await fleet.StartNodeAsync("cpu1", "{\"workloads\": {\"gpt2\": {\"command\": [" + JsonSerializer.Serialize(script) + ", " + tiny
            + "], \"device\": \"cpu\", \"args\": [\"--activation=gelu_new|gelu_pytorch_tanh\"]}}}", python: TorchPython.Executable);
        var r = await CliRunner.Run("campaign", "--cluster", fleet.Cluster, "--capture", "--system", "gpt2-cpu",
            "--baseline", "tanh=gpt2 --activation gelu_pytorch_tanh", "--version", "tanh-again=gpt2 --activation gelu_pytorch_tanh",
            "--version", "new=gpt2 --activation gelu_new", "--json", "-");
        output.WriteLine(r.Err);
        Assert.True(r.Code == 0, $"campaign exited {r.Code}: {r.Err}");
        using var doc = JsonDocument.Parse(r.Out);
        var versions = doc.RootElement.GetProperty("versions").EnumerateArray().ToList();
        Assert.Contains(versions[1].GetProperty("findings").EnumerateArray(),
            f => f.GetProperty("verdict").GetString() == "cpu-time" && f.GetProperty("wasteful").GetString() == "b"
                 && f.GetProperty("where").GetString()!.Contains("mlp.act", StringComparison.Ordinal));
        Assert.Equal(1, Assert.Single(doc.RootElement.GetProperty("regressions").EnumerateArray()).GetProperty("to").GetInt32());
    }

    [Theory]
    [InlineData(new[] { "audit", "--capture", "--system", "s", "--workload", "w" }, "needs --cluster")]
    [InlineData(new[] { "audit", "--cluster", "127.0.0.1:1", "--capture", "--workload", "w" }, "needs --system")]
    [InlineData(new[] { "audit", "--cluster", "127.0.0.1:1", "--capture", "--system", "s" }, "--workload NAME or the command after --")]
    [InlineData(new[] { "audit", "--cluster", "127.0.0.1:1", "--capture", "--system", "s", "--workload", "w", "extra" }, "go after --")]
    [InlineData(new[] { "audit", "a", "b", "--system", "s" }, "option --system needs --capture")]
    [InlineData(new[] { "audit", "--capture", "--cluster", "127.0.0.1:1", "--system", "s", "--workload", "w", "--date", "yesterday" }, "--date")]
    [InlineData(new[] { "audit", "a", "b", "--sensor-tolerance", "5" }, "--sensor-tolerance")]
    [InlineData(new[] { "campaign", "--capture", "--cluster", "127.0.0.1:1", "--baseline", "v1=w" }, "one --version NAME=WORKLOAD or more")]
    [InlineData(new[] { "campaign", "--capture", "--cluster", "127.0.0.1:1", "--baseline", "v1", "--version", "v2=w" }, "NAME=WORKLOAD")]
    [InlineData(new[] { "campaign", "--capture", "--cluster", "127.0.0.1:1", "--baseline", "v1=w", "--version", "v1=w" }, "given twice")]
    [InlineData(new[] { "campaign", "--baseline", "a", "b", "--version", "v2=w" }, "option --version needs --capture")]
    [InlineData(new[] { "audit", "--capture", "--cluster", "127.0.0.1:1", "--system", "s", "--workload", "w", "--gpus", "x" }, "--gpus")]
    [InlineData(new[] { "audits" }, "--cluster")]
    public async Task Bad_capture_command_lines_are_one_line_errors(string[] args, string message) =>
        CliRunner.AssertOneLineError(await CliRunner.Run(args), message);
}

/// <summary>A fact that needs a fake GPU worker (gcc, python3) and real PyTorch (MAGNETON_TEST_PYTHON).</summary>
public sealed class TorchWorkerFactAttribute : FactAttribute
{
    public TorchWorkerFactAttribute()
    {
        Skip = new WorkerFactAttribute().Skip ?? new TorchFactAttribute().Skip;
    }
}
