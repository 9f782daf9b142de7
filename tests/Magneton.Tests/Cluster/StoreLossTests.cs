using System.Diagnostics;
using System.Text.Json;
using Magneton.Grains;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Magneton.Tests.Traces;
using Xunit;
using Xunit.Abstractions;
using static Magneton.Tests.Cluster.InFlightFaultTests;

namespace Magneton.Tests.Cluster;

/// <summary>
/// A store that loses or reverts what it confirmed (Azurite killed -9 forgets its last ~5 s of writes; here a directory
/// store has files deleted behind the cluster's back, which is deterministic): a job's own state, and the files of a run
/// the catalog still lists. Nothing may stay stuck: the job saves its progress again, a client polling a job the cluster
/// forgot starts it again, and a campaign client uploads a lost run again (issue 17).
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class StoreLossTests(ITestOutputHelper output) : IDisposable
{
    readonly TempDir _work = new();
    string Work(string name) => _work.File(name);
    public void Dispose() => _work.Dispose();

    static string? JobFile(string store) =>
        Directory.Exists(Path.Combine(store, "grains", "job")) ? Directory.EnumerateFiles(Path.Combine(store, "grains", "job"), "*.json").FirstOrDefault() : null;

    static int StoredPhase(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        return doc.RootElement.GetProperty("state").GetProperty("Phase").GetInt32();
    }

    /// <remarks>
    /// The job is held in its last step, so that its state is lost mid-job whatever the machine's speed (a sample job
    /// takes a few hundred ms, which a quiet machine finished before the test could delete anything): the store's
    /// reports directory is replaced by a file, the job's report write fails and is retried (Transient, ~7 s of
    /// back-off), and while it retries the job's state file is deleted and the directory given back.
    /// </remarks>
    [Fact]
    public async Task A_job_whose_saved_state_the_store_lost_saves_its_progress_again_and_finishes()
    {
        string store = Work("store");
        await using var silo = await MagnetonProcess.StartOnFreePortsAsync((_, _) => ["--storage-dir", store]);
        string cluster = $"127.0.0.1:{silo.GatewayEndpoint.Port}";
        string expected = await EmbeddedFindingsAsync(_work.Path);
        string reports = Path.Combine(store, "reports");
        Directory.Delete(reports, recursive: true);
        File.WriteAllText(reports, "not a directory: the job's report write fails until the test gives the directory back");

        string report = Work("report.json");
        await using var client = MagnetonProcess.StartClient(["compare", "--cluster", cluster, TestRepo.GeluA, TestRepo.GeluB, "--json", report, "--quiet"]);
        await Until(() => silo.StderrTail(400).Contains(": report failed", StringComparison.Ordinal) || client.HasExited,
            "the job's report write failed and is being retried", client);
        Assert.False(client.HasExited, $"the client ended before the job reached its report: {client.Stderr}");
        File.Delete(JobFile(store) ?? throw new Xunit.Sdk.XunitException("no job state stored"));
        File.Delete(reports);
        Directory.CreateDirectory(reports);

        var code = await client.WaitForExitAsync(AfterRecovery);
        output.WriteLine($"exit {code}; client stderr:\n{client.Stderr}");
        Assert.True(code == 0, $"exit {code?.ToString() ?? "none (still running)"}: {client.Stderr}\nsilo:\n{silo.StderrTail(30)}");
        Assert.Equal(expected, Findings(report));
        // The finished job is in the store again (the silo wrote over what the store had lost).
        Assert.True(silo.StderrTail(400).Contains("writing it again", StringComparison.Ordinal), silo.StderrTail(40));
        Assert.Equal((int)JobPhase.Done, StoredPhase(JobFile(store) ?? throw new Xunit.Sdk.XunitException("no job state stored")));
    }

    [Fact]
    public async Task A_client_polling_a_job_the_restarted_cluster_forgot_starts_it_again_and_finishes_within_60_s()
    {
        string expected = await EmbeddedFindingsAsync(_work.Path);
        string store = Work("store");
        var ports = MagnetonProcess.FreePorts(2);
        string[] Args() => ["--silo-port", $"{ports[0]}", "--gateway-port", $"{ports[1]}", "--storage-dir", store];
        var silo = await MagnetonProcess.StartAsync(Args());
        string report = Work("report.json");
        await using var client = MagnetonProcess.StartClient(["compare", "--cluster", $"127.0.0.1:{ports[1]}", TestRepo.GeluA, TestRepo.GeluB, "--json", report, "--quiet"]);
        // Past its start (the client polls now), the silo is killed and the store loses the job's state with it.
        await Until(() => JobFile(store) is { } f && StoredPhase(f) >= (int)JobPhase.Matching || client.HasExited, "the job got under way", client);
        silo.Kill();
        await silo.DisposeAsync();
        bool midJob = !client.HasExited;
        if (JobFile(store) is { } file) File.Delete(file);

        await using var again = await MagnetonProcess.StartAsync(Args());
        var restarted = Stopwatch.StartNew();
        var code = await client.WaitForExitAsync(AfterRecovery + TimeSpan.FromSeconds(5));
        output.WriteLine($"mid-job {midJob}: exit {code} {restarted.Elapsed.TotalSeconds:0.0} s after the restart; client stderr:\n{client.Stderr}");
        AssertFinished(code, restarted.Elapsed, AfterRecovery, client, again, expected, report);
    }

    [Fact]
    public async Task A_campaign_whose_listed_run_the_store_lost_between_submissions_uploads_it_again_and_succeeds()
    {
        string store = Work("store");
        var ports = MagnetonProcess.FreePorts(2);
        string[] Args() => ["--silo-port", $"{ports[0]}", "--gateway-port", $"{ports[1]}", "--storage-dir", store];
        string cluster = $"127.0.0.1:{ports[1]}";
        string[] Campaign(string threshold, string json) =>
            ["campaign", "--cluster", cluster, "--baseline", TestRepo.GeluA, TestRepo.GeluB, "--threshold", threshold, "--json", json]; // not --quiet: upload lines on stderr
        var silo = await MagnetonProcess.StartAsync(Args());
        var first = await CliRunner.Run(Campaign("0.10", Work("first.json")));
        Assert.True(first.Code == 0, first.Err);
        string lost = UploadedId(first.Err, "B-hf-gpt2");
        await silo.StopAsync();
        await silo.DisposeAsync();

        // Behind the cluster's back the store loses a file of run B; its manifest stays, so the catalog still lists it.
        string dir = Path.Combine(store, "bundles", lost);
        var data = Directory.EnumerateFiles(dir).Where(f => Path.GetFileName(f) != "manifest.json").OrderByDescending(f => new FileInfo(f).Length).First();
        File.Delete(data);
        await using var again = await MagnetonProcess.StartAsync(Args());
        var runs = await CliRunner.Run("runs", "--cluster", cluster, "--json");
        Assert.Contains(lost, runs.Out);

        // A campaign needing it (another threshold: new jobs that read the bundles) finds it lost, uploads it again, succeeds.
        var expected = await CliRunner.Run("campaign", "--baseline", TestRepo.GeluA, TestRepo.GeluB, "--threshold", "0.3", "--json", Work("embedded.json"), "--quiet");
        Assert.True(expected.Code == 0, expected.Err);
        var second = await CliRunner.Run(Campaign("0.3", Work("second.json")));
        output.WriteLine(second.Err);
        Assert.True(second.Code == 0, second.Err + "\nsilo:\n" + again.StderrTail(30));
        Assert.Contains("uploaded it again", second.Err);
        Assert.Equal(VersionFindings(Work("embedded.json")), VersionFindings(Work("second.json")));
    }

    static string VersionFindings(string campaignReport)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(campaignReport));
        var findings = doc.RootElement.GetProperty("versions")[0].GetProperty("findings");
        Assert.NotEqual(0, findings.GetArrayLength());
        return findings.GetRawText();
    }
}
