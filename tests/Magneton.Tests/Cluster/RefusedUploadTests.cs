using Magneton.Client;
using Magneton.Core.Bundles;
using Magneton.Grains;
using Magneton.Tests.Bundles;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Cluster;

/// <summary>
/// Uploads whose every file has the hash its manifest says but that the bundle checks refuse (a file of another
/// capture, a cyclic dataflow, a gzip bomb): the silo's verification before commit is the reader's, so none is stored
/// or listed, and each is refused with the reader's one line.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class RefusedUploadTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task A_bundle_the_consistency_cycle_or_size_checks_refuse_is_never_listed_nor_stored()
    {
        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString, silos: 1);
        var damages = new (string File, string Line, Action<Grains.TempBundle> Damage)[]
        {
            (BundleFiles.Power, "power.csv: t_unix_ns: samples span",
                b => File.Copy(Path.Combine(TestRepo.GeluB, BundleFiles.Power), b.File(BundleFiles.Power), true)),
            (BundleFiles.Dataflow, "the operator graph has a cycle", b => AddCycle(b.File(BundleFiles.Dataflow))),
            (BundleFiles.Kineto, "kineto.json.gz: gzip: expands more than 100x",
                b => HostileInput.WriteGzipBomb(b.File(BundleFiles.Kineto), 11L << 30)),
        };
        foreach (var (file, line, damage) in damages)
        {
            using var bad = TestRepo.CopyBundle(TestRepo.GeluA);
            damage(bad);
            var manifest = await BundleUploader.ManifestAsync(bad.Path, "bad", CancellationToken.None);
            var run = cluster.Client.GetGrain<IRunGrain>(manifest.RunId);
            Assert.False(await run.BeginUpload(manifest));
            foreach (var f in manifest.Files)
            {
                var bytes = await File.ReadAllBytesAsync(bad.File(f.Name));
                for (int offset = 0; offset < bytes.Length; offset += UploadLimits.ChunkBytes)
                    await run.UploadChunk(f.Name, offset, bytes.AsSpan(offset, Math.Min(UploadLimits.ChunkBytes, bytes.Length - offset)).ToArray());
            }
            var e = await Assert.ThrowsAsync<MagnetonInputException>(() => run.CompleteUpload());
            Assert.Contains(line, e.Message);
            Assert.Equal(file, e.File);
            Assert.DoesNotContain('\n', e.Message);
            Assert.Null(await run.GetManifest());
        }
        Assert.Empty(await cluster.Client.GetGrain<ICatalogGrain>(0).ListRuns());
        Assert.All(cluster.Counters().Values, c => Assert.Equal(0, c.Ingestions));
    }

    /// <summary>Node 1 also reads the output of the first node that reads a value of node 1.</summary>
    static void AddCycle(string dataflow)
    {
        var root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(dataflow))!;
        var nodes = root["nodes"]!.AsArray();
        var values = root["values"]!.AsObject();
        int first = nodes[1]!["id"]!.GetValue<int>();
        var consumer = nodes.First(n => n!["in"]!.AsArray().Any(v => values[v!.ToString()]!["producer"]?.GetValue<int>() == first)
                                        && n["out"]!.AsArray().Count > 0)!;
        nodes[1]!["in"]!.AsArray().Add(consumer["out"]!.AsArray()[0]!.GetValue<int>());
        File.WriteAllText(dataflow, root.ToJsonString());
    }
}
