using System.Diagnostics;
using System.Text.Json;
using Magneton.Client;
using Magneton.Core;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Grains;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Magneton.Tests.Cluster;

/// <summary>Campaigns on a three-silo cluster over Azurite: fanned out, and carried through the loss of a silo.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class CampaignClusterTests(AzuriteFixture azurite)
{
    /// <summary>
    /// A copy of a sample under another system name: the same capture relabelled as another version, so it is
    /// a distinct run (its files hash differently) whose analysis is exactly the original's.
    /// </summary>
    internal static TempBundle Relabelled(string bundle, string suffix)
    {
        var copy = TestRepo.CopyBundle(bundle);
        var path = copy.File("dataflow.json");
        var text = File.ReadAllText(path);
        var system = JsonDocument.Parse(text).RootElement.GetProperty("system").GetString()!;
        File.WriteAllText(path, text.Replace($"\"system\":\"{system}\"", $"\"system\":\"{system}-{suffix}\""));
        // The other files that name the system say the same (the reader checks that they agree).
        foreach (var name in new[] { "measure.json", "replay.json" })
        {
            var file = copy.File(name);
            if (!File.Exists(file)) continue;
            var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(file))!;
            if (root["system"] is not null) root["system"] = $"{system}-{suffix}";
            File.WriteAllText(file, root.ToJsonString());
        }
        return copy;
    }

    static string FindingsJson(IReadOnlyList<FindingReport> findings) => JsonSerializer.Serialize(findings, MagnetonSerialization.JsonOptions);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_campaign_survives_losing_its_silo_and_compares_no_version_twice(bool tls)
    {
        using var v0 = Relabelled(TestRepo.GeluA, "v0");
        using var v1 = Relabelled(TestRepo.GeluB, "v1");
        using var v2 = Relabelled(TestRepo.GeluA, "v2");
        using var v3 = Relabelled(TestRepo.GeluB, "v3");
        string[] versions = [v0.Path, v1.Path, v2.Path, v3.Path];
        var expected = versions.Select(v => FindingsJson(Pipeline.Compare(TestRepo.GeluB, v, new CompareOptions()).Findings)).ToList();
        int firstJobSegments = Pipeline.Prepare(Pipeline.Ingest(TestRepo.GeluB), Pipeline.Ingest(v0.Path), new CompareOptions()).Segments.Count;

        // Versions one after another, so the silo can be lost between two of them.
        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString,
            configure: silo => silo.Services.Configure<CampaignOptions>(o => o.Parallel = 1), tls: tls);
        var uploader = new BundleUploader(cluster.Client, TextWriter.Null);
        var baseline = await uploader.ResolveAsync(TestRepo.GeluB, CancellationToken.None);
        var refs = new List<RunRef>();
        foreach (var v in versions) refs.Add(await uploader.ResolveAsync(v, CancellationToken.None));
        var request = new CampaignRequest(baseline, [.. refs]);
        var id = WorkIds.Campaign(request);

        // The first version finishes; the second is held in its first segment when the campaign's silo goes.
        cluster.Gate.HoldAfter(firstJobSegments);
        var campaign = cluster.Client.GetGrain<ICampaignGrain>(id);
        var status = await campaign.Start(request);
        var sw = Stopwatch.StartNew();
        while ((status.Done < 1 || cluster.Gate.Held == 0) && sw.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(50);
            status = await campaign.GetStatus();
        }
        Assert.Equal(1, status.Done);
        status = await Until.HoldsAsync(campaign.GetStatus, s => s.ProgressSaved, TimeSpan.FromSeconds(60), "progress saved");
        Assert.Equal(1, status.Done);
        await cluster.Cluster.KillSiloAsync(cluster.SiloOf(status.Silo));
        cluster.Gate.Open();

        var report = await CampaignCommand.RunCampaignAsync(cluster.Client, id, request, TextWriter.Null, CancellationToken.None);
        var final = await campaign.GetStatus();

        Assert.NotEqual(status.Silo, final.Silo);
        Assert.True(final.Resumes >= 1);
        Assert.Equal(1, final.VersionsRestored);
        Assert.Equal(versions.Length - 1, final.JobsStarted);
        Assert.Equal(versions.Length, report.Versions.Count);
        for (int i = 0; i < versions.Length; i++)
        {
            Assert.Null(report.Versions[i].Error);
            Assert.Equal(expected[i], FindingsJson(report.Versions[i].Findings));
        }
        // gelu_new versions (0, 2) carry the activation waste against the gelu_pytorch_tanh baseline.
        Assert.Equal([1, 0, 1, 0], report.Versions.Select(v => v.WasteInVersion));
        var recurring = Assert.Single(report.RecurringCauses);
        Assert.Equal(CauseKind.OperatorSet, recurring.Kind);
        Assert.Equal([0, 2], recurring.Versions);
    }
}
