using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Magneton.Client;
using Magneton.Core.Bundles;
using Magneton.Grains;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Magneton.Tests.Traces;
using Xunit;

namespace Magneton.Tests.Cluster;

/// <summary>Bad conditions around a cluster: storage restarting under an upload, no cluster, bad uploads.</summary>
[Collection(AzuriteCollection.Name)]
public sealed class ClusterFaultTests(AzuriteFixture azurite)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Azurite_restarting_during_an_upload_is_ridden_out_and_leaves_one_run(bool tls)
    {
        await using var storage = await Azurite.StartAsync();
        await using var cluster = await TestCluster.StartAsync(storage.ConnectionString, silos: 1, tls: tls);
        var dir = TestRepo.GeluA;
        var manifest = await BundleUploader.ManifestAsync(dir, BundleReader.Read(dir).Dataflow.System, CancellationToken.None);
        var run = cluster.Client.GetGrain<IRunGrain>(manifest.RunId);

        Assert.False(await run.BeginUpload(manifest));
        var files = manifest.Files.OrderByDescending(f => f.Length).ToList();
        await SendAsync(run, dir, files[0]);

        // Storage goes away between two chunks and comes back 2 s later; the upload carries on meanwhile.
        var restart = storage.RestartAsync(downtime: TimeSpan.FromSeconds(2));
        while (storage.IsRunning) await Task.Delay(20);
        var sw = Stopwatch.StartNew();
        foreach (var f in files.Skip(1)) await SendAsync(run, dir, f);
        var summary = await run.CompleteUpload();
        await restart;

        Assert.True(sw.Elapsed > TimeSpan.FromSeconds(1.5), $"the upload did not wait for storage ({sw.Elapsed})");
        Assert.Equal(manifest.RunId, summary.RunId);
        Assert.Equal(168, summary.Operators);
        Assert.Equal(RunIds.NormalizePath(dir), summary.BundlePath);

        // Uploading the same bundle again finds it stored: still one run.
        var again = await new BundleUploader(cluster.Client, TextWriter.Null).ResolveAsync(dir, CancellationToken.None);
        Assert.Equal(manifest.RunId, again.RunId);
        var runs = await cluster.Client.GetGrain<ICatalogGrain>(0).ListRuns();
        Assert.Equal(manifest.RunId, Assert.Single(runs).RunId);
    }

    static async Task SendAsync(IRunGrain run, string dir, BundleFileEntry file)
    {
        var bytes = await File.ReadAllBytesAsync(Path.Combine(dir, file.Name));
        for (int offset = 0; offset < bytes.Length; offset += UploadLimits.ChunkBytes)
            await run.UploadChunk(file.Name, offset, bytes.AsSpan(offset, Math.Min(UploadLimits.ChunkBytes, bytes.Length - offset)).ToArray());
    }

    [Fact]
    public async Task A_cluster_that_is_not_there_fails_within_seconds_with_one_line()
    {
        int port;
        using (var l = new TcpListener(IPAddress.Loopback, 0)) { l.Start(); port = ((IPEndPoint)l.LocalEndpoint).Port; }
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var sw = Stopwatch.StartNew();

        int rc = await Program.RunAsync(["compare", "--cluster", $"127.0.0.1:{port}", TestRepo.GeluA, TestRepo.GeluB], stdout, stderr);

        Assert.Equal(Program.BadInput, rc);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15), $"took {sw.Elapsed}");
        var line = stderr.ToString().Trim();
        Assert.DoesNotContain('\n', line);
        Assert.Contains($"127.0.0.1:{port}", line);
        Assert.Contains("no Magneton cluster answered", line);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Malformed_and_oversized_bundles_are_refused_before_they_reach_a_grain(bool tls)
    {
        // The checks run before the client connects, so the cluster here only shows that nothing reached it.
        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString, silos: 1, tls: tls);
        using var truncated = TestRepo.CopyBundle(TestRepo.GeluA);
        truncated.Truncate("kineto.json.gz");
        using var oversized = TestRepo.CopyBundle(TestRepo.GeluA);
        using (var s = new FileStream(oversized.File("dataflow.json"), FileMode.Open)) s.SetLength(3L << 30); // sparse

        foreach (var (bundle, file, words) in new[] { (truncated, "kineto.json.gz", "truncated"), (oversized, "dataflow.json", "at most") })
        {
            var stderr = new StringWriter();
            int rc = await Program.RunAsync(["compare", "--cluster", "127.0.0.1:1", bundle.Path, TestRepo.GeluB, "--quiet"], new StringWriter(), stderr);
            Assert.Equal(Program.BadInput, rc);
            var line = stderr.ToString().Trim();
            Assert.DoesNotContain('\n', line);
            Assert.True(line.Contains(file) && line.Contains(words), line);
        }

        Assert.Empty(await cluster.Client.GetGrain<ICatalogGrain>(0).ListRuns());
        Assert.All(cluster.Counters().Values, c => Assert.Equal(0, c.Ingestions));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_run_grain_refuses_bad_manifests_and_chunks_and_keeps_serving(bool tls)
    {
        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString, silos: 1, tls: tls);
        var dir = TestRepo.GeluB;
        var good = await BundleUploader.ManifestAsync(dir, "gelu-b", CancellationToken.None);

        async Task<string> Refused(BundleManifest m) =>
            (await Assert.ThrowsAsync<MagnetonInputException>(() =>
                cluster.Client.GetGrain<IRunGrain>(m.RunId).BeginUpload(m))).Message;

        var huge = good.Files.Select(f => f.Name == "kineto.json.gz" ? f with { Length = 1L << 40 } : f).ToArray();
        Assert.Contains("over the limit", await Refused(good with { Files = huge, RunId = BundleManifest.RunIdOf(huge) }));
        var unknown = good.Files.Append(new BundleFileEntry("../../etc/passwd", 10, new string('0', 64))).ToArray();
        Assert.Contains("not a file of", await Refused(good with { Files = unknown, RunId = BundleManifest.RunIdOf(unknown) }));
        Assert.Contains("does not match", await Refused(good with { RunId = "run-0000000000000000" }));

        // Chunks out of order, or bytes that do not hash to the manifest, are refused too.
        var run = cluster.Client.GetGrain<IRunGrain>(good.RunId);
        Assert.False(await run.BeginUpload(good));
        await Assert.ThrowsAsync<MagnetonInputException>(() => run.UploadChunk("power.csv", 100, new byte[10]));
        foreach (var f in good.Files)
        {
            var bytes = await File.ReadAllBytesAsync(Path.Combine(dir, f.Name));
            if (f.Name == "measure.json") bytes[0] ^= 0xff;
            for (int o = 0; o < bytes.Length; o += UploadLimits.ChunkBytes)
                await run.UploadChunk(f.Name, o, bytes.AsSpan(o, Math.Min(UploadLimits.ChunkBytes, bytes.Length - o)).ToArray());
        }
        var ex = await Assert.ThrowsAsync<MagnetonInputException>(() => run.CompleteUpload());
        Assert.Contains("measure.json", ex.Message);
        Assert.Empty(await cluster.Client.GetGrain<ICatalogGrain>(0).ListRuns());

        // The same silo then takes the honest upload.
        var ok = await new BundleUploader(cluster.Client, TextWriter.Null).ResolveAsync(dir, CancellationToken.None);
        Assert.Equal(good.RunId, ok.RunId);
    }

    [Fact]
    public async Task A_job_id_taken_with_other_options_is_refused_and_the_real_comparison_still_runs()
    {
        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString, silos: 1);
        var uploader = new BundleUploader(cluster.Client, TextWriter.Null);
        var a = await uploader.ResolveAsync(TestRepo.GeluA, CancellationToken.None);
        var b = await uploader.ResolveAsync(TestRepo.GeluB, CancellationToken.None);
        var real = new CompareRequest(a, b, 0.10);
        var job = cluster.Client.GetGrain<IMatchingJobGrain>(WorkIds.Job(real));

        // Another client starts the public id first, with other options: refused, and nothing is stored.
        var squat = await Assert.ThrowsAsync<MagnetonInputException>(() => job.Start(real with { Threshold = 5 }));
        Assert.Contains("not the id of this comparison", squat.Message);
        Assert.Equal(JobPhase.New, (await job.GetStatus()).Phase);
        // Other options are another job, with its own id.
        Assert.NotEqual(WorkIds.Job(real), WorkIds.Job(real with { Threshold = 5 }));
        Assert.NotEqual(WorkIds.Job(real), WorkIds.Job(real with { OutputTolerance = 0.5 }));

        var report = await ClusterJob.RunAsync(cluster.Client, real, TextWriter.Null, CancellationToken.None);
        Assert.Equal(0.10, report.Threshold);
        Assert.NotEmpty(report.Findings);
    }

    [Fact]
    public async Task A_silo_with_a_store_refuses_a_remote_clients_local_path_with_one_line_that_reveals_nothing()
    {
        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString, silos: 1);
        foreach (var path in new[] { "/etc", TestRepo.GeluA, "/no/such/dir" })
        {
            var run = RunRef.Local(path);
            var ex = await Assert.ThrowsAsync<MagnetonInputException>(() => cluster.Client.GetGrain<IRunGrain>(run.RunId).Ingest(run));
            Assert.Contains("reads bundles only from its store", ex.Message);
            Assert.DoesNotContain(path, ex.Message);
            Assert.DoesNotContain("dataflow", ex.Message);
            Assert.DoesNotContain("\n", ex.Message);
        }
        Assert.All(cluster.Counters().Values, c => Assert.Equal(0, c.Ingestions));
    }

    [Fact]
    public void A_silo_reads_local_bundles_only_under_the_roots_its_operator_allowed()
    {
        var roots = new LocalBundleRoots([Path.GetDirectoryName(TestRepo.GeluA)!]);
        Assert.True(roots.Allows(TestRepo.GeluA));
        Assert.True(roots.Allows(TestRepo.GeluA + "/"));
        Assert.False(roots.Allows("/etc"));
        Assert.False(roots.Allows(TestRepo.GeluA + "/../../../../etc"));
        Assert.False(roots.Allows(Path.GetDirectoryName(TestRepo.GeluA) + "-other"));
        using var link = new TempDir();
        var escape = Path.Combine(link.Path, "escape");
        Directory.CreateSymbolicLink(escape, "/etc");
        Assert.False(new LocalBundleRoots([link.Path]).Allows(escape));

        var parsed = SiloArguments.Parse(["--allow-path", Path.GetDirectoryName(TestRepo.GeluA)!, "--storage-dir", link.Path]);
        Assert.Equal(new[] { Path.GetDirectoryName(TestRepo.GeluA)! }, parsed.ToHostOptions().Storage!.AllowedPaths.ToArray());
    }

    [Fact]
    public async Task A_bundle_whose_files_are_symbolic_links_uploads_with_the_targets_lengths()
    {
        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString, silos: 1);
        using var linked = new TempDir();
        foreach (var f in Directory.GetFiles(TestRepo.GeluA))
            File.CreateSymbolicLink(Path.Combine(linked.Path, Path.GetFileName(f)), f);

        var direct = await BundleUploader.ManifestAsync(TestRepo.GeluA, "x", CancellationToken.None);
        var viaLinks = await BundleUploader.ManifestAsync(linked.Path, "x", CancellationToken.None);
        Assert.Equal(direct.Files, viaLinks.Files);
        var run = await new BundleUploader(cluster.Client, TextWriter.Null).ResolveAsync(linked.Path, CancellationToken.None);
        Assert.Equal(direct.RunId, run.RunId);
        Assert.Equal(168, (await cluster.Client.GetGrain<IRunGrain>(run.RunId).GetSummary()).Operators);
    }

    [Fact]
    public async Task An_upload_the_bundle_reader_refuses_is_never_listed_nor_stored()
    {
        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString, silos: 1);
        // Hashes that match the bytes, bytes that are not a bundle: only reading it tells.
        using var bad = TestRepo.CopyBundle(TestRepo.GeluA);
        bad.Truncate("kineto.json.gz");
        var manifest = await BundleUploader.ManifestAsync(bad.Path, "bad", CancellationToken.None);
        var run = cluster.Client.GetGrain<IRunGrain>(manifest.RunId);
        Assert.False(await run.BeginUpload(manifest));
        foreach (var f in manifest.Files) await SendAsync(run, bad.Path, f);

        var e = await Assert.ThrowsAsync<MagnetonInputException>(() => run.CompleteUpload());
        Assert.Contains("kineto.json.gz", e.Message);
        Assert.DoesNotContain("magneton-cache", e.Message); // names the client's bundle, not the silo's scratch directory
        Assert.Empty(await cluster.Client.GetGrain<ICatalogGrain>(0).ListRuns());
        Assert.Null(await run.GetManifest());
        Assert.All(cluster.Counters().Values, c => Assert.Equal(0, c.Ingestions));
    }

    [Fact]
    public async Task Run_with_an_empty_id_is_a_usage_error()
    {
        var r = await CliRunner.Run("compare", "--cluster", "127.0.0.1:1", "run:", "run:x", "--quiet");
        CliRunner.AssertOneLineError(r, "run:");
    }
}
