using System.Text.Json;
using k8s.Models;
using Magneton.Client;
using Magneton.Silo;
using Magneton.Tests.Cluster;
using Magneton.Tests.GpuWorker;
using Magneton.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.K8s;

/// <summary>Three fake GPU nodes whose workload file names the manifests' workload (gpt2-gelu), played by the probe stand-in.</summary>
public sealed class ManifestFleetFixture : IAsyncLifetime
{
    public FakeGpuFleet Fleet { get; } = new();

    public async Task InitializeAsync()
    {
        if (FakeNvml.Gcc is null || ProbePython.Executable is null) return; // the facts are skipped
        await Fleet.StartAsync();
        foreach (var node in new[] { "k1", "k2", "k3" }) await Fleet.StartNodeAsync(node, FakeGpuFleet.WorkloadFile("gpt2-gelu"));
    }

    public async Task DisposeAsync() => await Fleet.DisposeAsync();
}

/// <summary>
/// The campaign Job's and the audit CronJob's command lines, taken from the rendered local overlay with their
/// <c>$(VAR)</c>s expanded from the ConfigMap magneton-jobs (as the kubelet does), run against a localhost cluster of
/// fake GPU nodes (<see cref="FakeGpuFleet"/>) that allow the manifests' workload: the gateway address becomes the
/// local silo's and the --json path moves from the container's volume to a temp directory. Nothing else of the
/// command line is changed.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class JobCommandTests(ManifestFleetFixture fixture, ITestOutputHelper output) : IClassFixture<ManifestFleetFixture>
{
    const string ManifestGateway = "magneton-gateway:30000";

    FakeGpuFleet Fleet => fixture.Fleet;

    [WorkerFact]
    public async Task The_campaign_job_command_captures_its_versions_and_stores_the_campaign()
    {
        var r = RenderedOverlay.Get("local");
        var container = r.Campaign.Spec.Template.Spec.Containers.Single();
        var (args, json) = Localise(r, container, Fleet.Cluster, Path.Combine(Fleet.Root, "campaign-out"));
        output.WriteLine("magneton " + string.Join(' ', args));
        var (code, stdout, stderr) = await RunAsync(args);
        Assert.True(code == 0, $"campaign exited {code}\nstderr:\n{stderr}");
        output.WriteLine(stdout);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal("magneton.campaign/1", root.GetProperty("schema").GetString());
        Assert.Equal("gelu_pytorch_tanh", root.GetProperty("baseline").GetProperty("system").GetString());
        var versions = root.GetProperty("versions").EnumerateArray().ToList();
        Assert.Equal(2, versions.Count);
        Assert.All(versions, v => Assert.Equal(JsonValueKind.Null, v.GetProperty("error").ValueKind));
        // The same activation again: no waste; gelu_new: the unfused activation's waste, a regression.
        Assert.Equal(0, versions[0].GetProperty("waste_in_version").GetInt32());
        Assert.True(versions[1].GetProperty("waste_in_version").GetInt32() >= 1);
        Assert.Equal(1, Assert.Single(root.GetProperty("regressions").EnumerateArray()).GetProperty("to").GetInt32());

        var system = r.One<V1ConfigMap>("magneton-jobs").Data["campaign-system"];
        var listed = await RunAsync(["campaigns", "--cluster", Fleet.Cluster, "--system", system, "--json"]);
        using var history = JsonDocument.Parse(listed.Stdout);
        Assert.Equal("regression: gelu_new", Assert.Single(history.RootElement.EnumerateArray()).GetProperty("verdict").GetString());
    }

    [WorkerFact]
    public async Task The_audit_cronjob_command_captures_every_gpu_node_and_stores_the_audit()
    {
        var r = RenderedOverlay.Get("local");
        var container = r.Audit.Spec.JobTemplate.Spec.Template.Spec.Containers.Single();
        var (args, json) = Localise(r, container, Fleet.Cluster, Path.Combine(Fleet.Root, "audit-out"));
        output.WriteLine("magneton " + string.Join(' ', args));
        var (code, stdout, stderr) = await RunAsync(args);
        Assert.True(code == 0, $"audit exited {code}\nstderr:\n{stderr}");
        output.WriteLine(stdout);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var root = doc.RootElement;
        Assert.Equal("magneton.audit/1", root.GetProperty("schema").GetString());
        Assert.Equal(["k1/gpu0", "k2/gpu0", "k3/gpu0"], root.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("host").GetString()).Order());
        Assert.Empty(root.GetProperty("outliers").EnumerateArray()); // the same job on three identical boards

        var system = r.One<V1ConfigMap>("magneton-jobs").Data["audit-system"];
        var listed = await RunAsync(["audits", "--cluster", Fleet.Cluster, "--system", system, "--json"]);
        var entry = Assert.Single(JsonDocument.Parse(listed.Stdout).RootElement.EnumerateArray());
        Assert.Equal(system, entry.GetProperty("system").GetString());
        Assert.Equal(3, entry.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public void The_manifests_client_ids_are_the_silos_defaults_the_local_run_uses()
    {
        // The local silo above runs with the default ids; the jobs' environment names the same ones, so running
        // their command lines here without that environment is what the pods do.
        var r = RenderedOverlay.Get("local");
        foreach (var c in new[] { r.Campaign.Spec.Template.Spec.Containers[0], r.Audit.Spec.JobTemplate.Spec.Template.Spec.Containers[0] })
        {
            Assert.Equal(SiloHostOptions.DefaultClusterId, r.EnvValue(c, SiloArguments.ClusterIdVariable));
            Assert.Equal(SiloHostOptions.DefaultServiceId, r.EnvValue(c, SiloArguments.ServiceIdVariable));
        }
    }

    /// <summary>
    /// The container's command line for this machine: its variables expanded, "magneton" dropped (the CLI runs
    /// in-process), the gateway replaced by the local one, and --json moved from the container's volume into
    /// <paramref name="dir"/>. Returns the arguments and the local JSON path.
    /// </summary>
    static (string[] Args, string Json) Localise(RenderedOverlay r, V1Container c, string gateway, string dir)
    {
        var line = r.ExpandedCommandLine(c).ToList();
        Assert.Equal("magneton", line[0]);
        Assert.Single(line, a => a == ManifestGateway);

        string? json = null;
        var args = new List<string>();
        for (int i = 1; i < line.Count; i++)
        {
            string a = line[i];
            if (a == ManifestGateway) args.Add(gateway);
            else if (line[i - 1] == "--json")
            {
                var mount = c.VolumeMounts.Single(m => a.StartsWith(m.MountPath.TrimEnd('/') + "/", StringComparison.Ordinal));
                json = Path.Combine(dir, mount.Name, a[(mount.MountPath.TrimEnd('/').Length + 1)..]);
                Directory.CreateDirectory(Path.GetDirectoryName(json)!);
                args.Add(json);
            }
            else args.Add(a);
        }
        Assert.NotNull(json);
        return ([.. args], json!);
    }

    static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await Program.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
