using System.Text.Json;
using System.Text.RegularExpressions;
using k8s.Models;
using Magneton.Client;
using Magneton.Silo;
using Magneton.Tests.Cluster;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.K8s;

/// <summary>
/// The campaign Job's and the audit CronJob's command lines, taken from the rendered local overlay, run against a
/// one-silo <c>magneton silo</c> cluster on this machine: the gateway address becomes the local silo's, the run
/// placeholders become runs stored in that cluster, and the --json path moves from the container's volume to a
/// temp directory. Nothing else of the command line is changed.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed partial class JobCommandTests(ITestOutputHelper output)
{
    const string ManifestGateway = "magneton-gateway:30000";

    [GeneratedRegex(@"^run:([A-Z][A-Z0-9_]*)$")]
    private static partial Regex Placeholder();

    [Fact]
    public async Task The_campaign_job_command_runs_against_a_local_cluster()
    {
        var r = RenderedOverlay.Get("local");
        var container = r.Campaign.Spec.Template.Spec.Containers.Single();
        // Three stored runs for three placeholders: the gelu_pytorch_tanh baseline, the gelu_new version (carries the
        // activation waste against the baseline) and the same capture relabelled as another version.
        using var relabelled = CampaignClusterTests.Relabelled(TestRepo.GeluA, "k8s-v2");

        var work = Directory.CreateTempSubdirectory("magneton-k8s-campaign-");
        try
        {
            await using var silo = await MagnetonProcess.StartOnFreePortsAsync((_, _) => ["--storage-dir", Path.Combine(work.FullName, "store")]);
            string gateway = $"127.0.0.1:{silo.GatewayEndpoint.Port}";
            var runs = await UploadAsync(gateway, TestRepo.GeluB, TestRepo.GeluA, relabelled.Path);

            var (args, json) = Localise(r, container, gateway, runs, work.FullName);
            output.WriteLine("magneton " + string.Join(' ', args));
            var (code, stdout, stderr) = await RunAsync(args);
            Assert.True(code == 0, $"campaign exited {code}\nstderr:\n{stderr}\nsilo stderr:\n{silo.StderrTail(30)}");
            output.WriteLine(stdout);

            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var root = doc.RootElement;
            Assert.Equal("magneton.campaign/1", root.GetProperty("schema").GetString());
            Assert.Equal(runs[0], "run:" + root.GetProperty("baseline").GetProperty("run_id").GetString());
            var versions = root.GetProperty("versions").EnumerateArray().ToList();
            Assert.Equal(2, versions.Count);
            Assert.All(versions, v => Assert.Equal(JsonValueKind.Null, v.GetProperty("error").ValueKind));
            // Both versions are gelu_new: each has the activation waste against the gelu_pytorch_tanh baseline.
            Assert.All(versions, v => Assert.True(v.GetProperty("waste_in_version").GetInt32() >= 1));

            Assert.Equal(0, await silo.StopAsync());
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task The_audit_cronjob_command_runs_against_a_local_cluster()
    {
        var r = RenderedOverlay.Get("local");
        var container = r.Audit.Spec.JobTemplate.Spec.Template.Spec.Containers.Single();
        var work = Directory.CreateTempSubdirectory("magneton-k8s-audit-");
        try
        {
            await using var silo = await MagnetonProcess.StartOnFreePortsAsync((_, _) => ["--storage-dir", Path.Combine(work.FullName, "store")]);
            string gateway = $"127.0.0.1:{silo.GatewayEndpoint.Port}";
            // The same job (HF Llama generate) captured twice: the audit's two "nodes".
            var runs = await UploadAsync(gateway, TestRepo.Bundle("llama-generate-null", "A"), TestRepo.Bundle("llama-generate-null", "B"));

            var (args, json) = Localise(r, container, gateway, runs, work.FullName);
            output.WriteLine("magneton " + string.Join(' ', args));
            var (code, stdout, stderr) = await RunAsync(args);
            Assert.True(code == 0, $"audit exited {code}\nstderr:\n{stderr}\nsilo stderr:\n{silo.StderrTail(30)}");
            output.WriteLine(stdout);

            using var doc = JsonDocument.Parse(File.ReadAllText(json));
            var root = doc.RootElement;
            Assert.Equal("magneton.audit/1", root.GetProperty("schema").GetString());
            var nodes = root.GetProperty("nodes").EnumerateArray().ToList();
            Assert.Equal(2, nodes.Count);
            Assert.Equal(runs.Select(x => x["run:".Length..]).Order(), nodes.Select(n => n.GetProperty("run_id").GetString()!).Order());

            Assert.Equal(0, await silo.StopAsync());
        }
        finally
        {
            work.Delete(recursive: true);
        }
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
    /// The container's command line for this machine: "magneton" dropped (the CLI runs in-process), the gateway
    /// replaced by the local one, each run placeholder by a stored run (in order), and --json moved from the
    /// container's volume into <paramref name="dir"/>. Returns the arguments and the local JSON path.
    /// </summary>
    static (string[] Args, string Json) Localise(RenderedOverlay r, V1Container c, string gateway, IReadOnlyList<string> runs, string dir)
    {
        var line = RenderedOverlay.CommandLine(c).ToList();
        Assert.Equal("magneton", line[0]);
        Assert.Single(line, a => a == ManifestGateway);

        var placeholders = line.Where(a => Placeholder().IsMatch(a)).ToList();
        Assert.Equal(runs.Count, placeholders.Count);
        Assert.Equal(placeholders.Count, placeholders.Distinct().Count());

        string? json = null;
        var args = new List<string>();
        for (int i = 1; i < line.Count; i++)
        {
            string a = line[i];
            if (a == ManifestGateway) args.Add(gateway);
            else if (Placeholder().IsMatch(a)) args.Add(runs[placeholders.IndexOf(a)]);
            else if (i > 0 && line[i - 1] == "--json")
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

    /// <summary>Uploads bundles to the cluster (as <c>magneton compare --cluster</c> does) and returns their run:ids.</summary>
    static async Task<List<string>> UploadAsync(string gateway, params string[] bundles)
    {
        await using var connection = await ClusterConnection.ConnectAsync(gateway);
        var uploader = new BundleUploader(connection.Client, TextWriter.Null);
        var runs = new List<string>();
        foreach (var b in bundles)
            runs.Add(RunArgument.Prefix + (await uploader.ResolveAsync(b, CancellationToken.None)).RunId);
        Assert.Equal(runs.Count, runs.Distinct().Count());
        return runs;
    }

    static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await Program.RunAsync(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}
