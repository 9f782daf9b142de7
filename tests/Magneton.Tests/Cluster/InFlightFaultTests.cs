using System.Diagnostics;
using System.Text.Json;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Magneton.Tests.Traces;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.Cluster;

/// <summary>
/// Faults that hit a <c>magneton compare --cluster</c> client while its calls are in flight: real silo processes
/// killed with -9 (localhost and PostgreSQL membership), real Azurite killed with -9, the client a real process receiving SIGINT. Each test states the
/// bound it holds the client to and checks that the outcome equals the undisturbed one.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class InFlightFaultTests(Postgres postgres, ITestOutputHelper output) : IClassFixture<Postgres>, IDisposable
{
    /// <summary>The client finishes within this of the cluster being back (the issue's bound).</summary>
    internal static readonly TimeSpan AfterRecovery = TimeSpan.FromSeconds(60);
    /// <summary>Ctrl-C ends a waiting client within this.</summary>
    static readonly TimeSpan InterruptBound = TimeSpan.FromSeconds(2);
    /// <summary>Generous deadline of conditions the test waits on (a loaded 2-core machine).</summary>
    internal static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    readonly TempDir _work = new();

    string Work(string name) => _work.File(name);

    public void Dispose() => _work.Dispose();

    /// <param name="tls">mutual TLS between the silos and to the client (issue 14: every fault test holds with TLS on)</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Every_silo_killed_during_a_compare_and_restarted_the_client_finishes_with_the_undisturbed_findings(bool tls)
    {
        string expected = await EmbeddedFindingsAsync();
        string store = Work("store");
        var ports = MagnetonProcess.FreePorts(4);
        using var certs = tls ? new TestCertificates() : null;
        string[] Tls(string role, string name) => certs is null ? [] : certs.Options(certs.Issue(role, name));
        string[] firstTls = Tls("silo", "silo-1"), secondTls = Tls("silo", "silo-2"), clientTls = Tls("submitter", "client");
        string[] First() => ["--silo-port", $"{ports[0]}", "--gateway-port", $"{ports[1]}", "--storage-dir", store, .. firstTls];
        string[] Second() => ["--silo-port", $"{ports[2]}", "--gateway-port", $"{ports[3]}", "--storage-dir", store, "--primary", $"127.0.0.1:{ports[0]}", .. secondTls];
        string gateways = $"127.0.0.1:{ports[1]},127.0.0.1:{ports[3]}";

        // A kill can come after the job finished (a fast machine); then the attempt does not count and another
        // threshold (another job, in the same store) is tried.
        for (int attempt = 1; ; attempt++)
        {
            var first = await MagnetonProcess.StartAsync(First());
            var second = await MagnetonProcess.StartAsync(Second());
            string report = Work($"report-{attempt}.json");
            string threshold = (0.10 + attempt * 1e-6).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
            await using var client = MagnetonProcess.StartClient(
                ["compare", "--cluster", gateways, TestRepo.GeluA, TestRepo.GeluB, "--threshold", threshold, "--json", report, "--quiet", .. clientTls]);

            // Killed once the job is under way: its progress is in the store's grain state.
            string jobs = Path.Combine(store, "grains", "job");
            await Until(() => (Directory.Exists(jobs) && Directory.EnumerateFiles(jobs, "*.json").Any()) || client.HasExited,
                "the job started", client);
            first.Kill();
            second.Kill();
            await first.DisposeAsync();
            await second.DisposeAsync();

            await using var again1 = await MagnetonProcess.StartAsync(First());
            await using var again2 = await MagnetonProcess.StartAsync(Second());
            var restarted = Stopwatch.StartNew();
            var code = await client.WaitForExitAsync(AfterRecovery + TimeSpan.FromSeconds(5));
            output.WriteLine($"attempt {attempt}: exit {code} {restarted.Elapsed.TotalSeconds:0.0} s after the restart; client stderr:\n{client.Stderr}");
            // The job resumed after the restart (it had not finished when every silo was killed).
            bool resumed = client.Stderr.Contains("resumed", StringComparison.Ordinal);
            if (!resumed && code == 0 && attempt < 3) continue;

            Assert.True(resumed, $"the job was not interrupted in {attempt} attempts:\n{client.Stderr}");
            Assert.True(code == 0, $"client exit {code?.ToString() ?? "none (still running)"}:\n{client.Stderr}\nsilo:\n{again1.StderrTail(30)}");
            Assert.True(restarted.Elapsed < AfterRecovery, $"finished {restarted.Elapsed} after the restart");
            Assert.Equal(expected, Findings(report));

            // Nothing lost or duplicated: the two runs, once each.
            var runs = await CliRunner.Run(["runs", "--cluster", gateways, "--json", .. clientTls]);
            Assert.Equal(0, runs.Code);
            using var list = JsonDocument.Parse(runs.Out);
            Assert.Equal(2, list.RootElement.GetArrayLength());
            return;
        }
    }

    [Fact]
    public async Task Ctrl_C_ends_a_waiting_client_within_2_s_and_SIGTERM_too()
    {
        // A run started in the background of a shell inherits SIGINT ignored, and the client would rightly keep
        // ignoring it; the test is about a user's Ctrl-C in a terminal, where it is not.
        MagnetonProcess.RestoreDefaultInterrupt();
        Assert.False(MagnetonProcess.InterruptIgnored());
        foreach (var signal in new[] { SIGINT, SIGTERM })
        {
            var silo = await MagnetonProcess.StartOnFreePortsAsync((_, _) => ["--storage-dir", Work("store")]);
            await using var client = MagnetonProcess.StartClient(
                ["compare", "--cluster", $"127.0.0.1:{silo.GatewayEndpoint.Port}", TestRepo.GeluA, TestRepo.GeluB, "--quiet"]);
            // Frozen (SIGSTOP) at the first upload, the silo keeps its connections open and answers nothing: the
            // client is left waiting on a call in flight whatever it does next. Killing the silo after both uploads
            // raced the job (CI once finished the whole comparison before the kill).
            await Until(() => Count(client.Stderr, "run:") >= 1 || client.HasExited, "the client uploaded a bundle", client);
            silo.Signal(SIGSTOP);
            await using var frozen = silo;
            Assert.False(client.HasExited, client.Stderr);

            var sw = Stopwatch.StartNew();
            client.Signal(signal);
            var code = await client.WaitForExitAsync(TimeSpan.FromSeconds(30));
            output.WriteLine($"signal {signal}: exit {code} after {sw.Elapsed.TotalMilliseconds:0} ms");
            Assert.Equal(130, code);
            Assert.True(sw.Elapsed < InterruptBound, $"exited {sw.Elapsed} after signal {signal}");
            Assert.EndsWith("magneton: interrupted", client.Stderr.TrimEnd());
        }
    }

    // Was skipped (2 of 4 fresh-clone CI runs stalled past 60 s after Azurite came back). Azurite killed -9 forgets
    // its last ~5 s of writes (LokiJS autosaves every 5 s), so the job's saved state reverted under it and every
    // later save failed on the stale ETag; the job now writes its progress over (ProgressWriter), and a client polling
    // a job the cluster forgot starts it again (ClusterJob). See StoreLossTests for the deterministic versions.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_compare_rides_out_storage_killed_mid_job_and_the_same_compare_succeeds_afterwards(bool tls)
    {
        string expected = await EmbeddedFindingsAsync();
        using var certs = tls ? new TestCertificates() : null;
        string[] siloTls = TlsOptions(certs, "silo"), clientTls = TlsOptions(certs, "submitter");
        await using var azurite = await Azurite.StartAsync(Work("azurite"));
        var env = new Dictionary<string, string?> { ["MAGNETON_BLOB_CONNECTION"] = azurite.ConnectionString };
        await using var silo = await MagnetonProcess.StartOnFreePortsAsync((_, _) => siloTls, env);
        string cluster = $"127.0.0.1:{silo.GatewayEndpoint.Port}";
        string report = Work("during.json");
        await using var client = MagnetonProcess.StartClient(
            ["compare", "--cluster", cluster, TestRepo.GeluA, TestRepo.GeluB, "--json", report, "--quiet", .. clientTls]);

        await Until(() => Count(client.Stderr, "run:") >= 2 || client.HasExited, "the client uploaded both bundles", client);
        await azurite.KillAsync();
        // The silo notices (a storage call fails and is retried) before storage comes back.
        await Until(() => silo.StderrTail(400).Contains("retry", StringComparison.Ordinal) || client.HasExited,
            "the silo saw storage fail", client);
        await azurite.StartAgainAsync();
        var back = Stopwatch.StartNew();
        var code = await client.WaitForExitAsync(AfterRecovery + TimeSpan.FromSeconds(5));
        output.WriteLine($"exit {code} {back.Elapsed.TotalSeconds:0.0} s after storage came back; client stderr:\n{client.Stderr}");

        // Finished with the findings, or ended with one line: never hung, never a stack trace.
        Assert.True(code is not null, $"still running {back.Elapsed} after storage came back:\n{client.Stderr}\nsilo:\n{silo.StderrTail(60)}");
        Assert.True(back.Elapsed < AfterRecovery, $"ended {back.Elapsed} after storage came back");
        if (code == 0) Assert.Equal(expected, Findings(report));
        else
        {
            Assert.Equal(2, code);
            Assert.Single(client.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("magneton: error: ", StringComparison.Ordinal));
        }

        // Storage healthy again: the same compare succeeds (a bundle it lost is uploaded again) with the same findings.
        string after = Work("after.json");
        var again = await CliRunner.Run(["compare", "--cluster", cluster, TestRepo.GeluA, TestRepo.GeluB, "--json", after, "--quiet", .. clientTls]);
        Assert.True(again.Code == 0, again.Err + "\nsilo:\n" + silo.StderrTail(40));
        Assert.Equal(expected, Findings(after));
    }

    [Fact]
    public async Task A_run_the_store_lost_is_uploaded_again_by_a_client_that_holds_it_and_reported_to_one_that_does_not()
    {
        string store = Work("store");
        await using var silo = await MagnetonProcess.StartOnFreePortsAsync((_, _) => ["--storage-dir", store]);
        string cluster = $"127.0.0.1:{silo.GatewayEndpoint.Port}";
        var first = await CliRunner.Run("compare", "--cluster", cluster, TestRepo.GeluA, TestRepo.GeluB, "--quiet");
        Assert.True(first.Code == 0, first.Err);

        // The store loses run A's bundle (its files and manifest, behind the cluster's back).
        string lost = UploadedId(first.Err, "A-hf-gpt2"), other = UploadedId(first.Err, "B-hf-gpt2");
        Directory.Delete(Path.Combine(store, "bundles", lost), recursive: true);

        // A client naming the stored runs cannot bring it back: one line, exit 2.
        var named = await CliRunner.Run("compare", "--cluster", cluster, $"run:{lost}", $"run:{other}", "--threshold", "0.3", "--quiet");
        CliRunner.AssertOneLineError(named, lost);

        // A client holding the bundle uploads it again and gets the findings (another threshold: a job that ingests).
        string expected = await EmbeddedFindingsAsync("0.3");
        string report = Work("again.json");
        var again = await CliRunner.Run("compare", "--cluster", cluster, TestRepo.GeluA, TestRepo.GeluB, "--threshold", "0.3", "--json", report, "--quiet");
        Assert.True(again.Code == 0, again.Err);
        Assert.Contains($"{Magneton.Client.RunArgument.Typed(lost)}: uploaded", again.Err);
        Assert.Equal(expected, Findings(report));
    }

    /// <summary>The run id of an upload line, "run:&lt;id&gt;: uploaded ... from &lt;bundle&gt;" (the store's directory name).</summary>
    internal static string UploadedId(string stderr, string bundle)
    {
        var line = stderr.Split('\n').First(l => l.Contains(": uploaded") && l.Contains(bundle));
        return Magneton.Client.RunArgument.Id(line[..line.IndexOf(": uploaded", StringComparison.Ordinal)]);
    }

    /// <summary>From the kill to the client's result under PostgreSQL membership: its probes (about 15-30 s) declare the silo dead.</summary>
    static readonly TimeSpan AfterKill = TimeSpan.FromSeconds(90);

    /// <summary>
    /// PostgreSQL membership (the mode for real clusters) with a silo killed -9 while the client waits: the
    /// survivor declares it dead, the job resumes there and the client finishes.
    /// </summary>
    [PostgresTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_silo_killed_during_a_compare_is_declared_dead_and_the_client_finishes_with_the_findings(bool tls)
    {
        string expected = await EmbeddedFindingsAsync();
        using var certs = tls ? new TestCertificates() : null;
        string[] siloTls = TlsOptions(certs, "silo"), clientTls = TlsOptions(certs, "submitter");
        string db = await postgres.CreateDatabaseAsync();
        string clusterId = "pgfault-" + Guid.NewGuid().ToString("N")[..8];
        string store = Path.Combine(_work.Path, "store");
        var env = new Dictionary<string, string?> { ["MAGNETON_CLUSTER_ID"] = clusterId };
        string[] Args() => ["--postgres", db, "--storage-dir", store, .. siloTls];
        var first = await MagnetonProcess.StartOnFreePortsAsync((_, _) => Args(), env);
        await using var second = await MagnetonProcess.StartOnFreePortsAsync((_, _) => Args(), env);
        string gateways = $"127.0.0.1:{first.GatewayEndpoint.Port},127.0.0.1:{second.GatewayEndpoint.Port}";
        string report = Path.Combine(_work.Path, "report.json");
        await using var client = MagnetonProcess.StartClient(
            ["compare", "--cluster", gateways, TestRepo.GeluA, TestRepo.GeluB, "--json", report, "--quiet", .. clientTls], env);

        await Until(() => Count(client.Stderr, "run:") >= 2 || client.HasExited,
            "the client uploaded both bundles", client);
        var sw = Stopwatch.StartNew();
        first.Kill();
        await first.DisposeAsync();

        var code = await client.WaitForExitAsync(AfterKill + TimeSpan.FromSeconds(10));
        output.WriteLine($"exit {code} {sw.Elapsed.TotalSeconds:0.0} s after the kill; client stderr:\n{client.Stderr}");
        AssertFinished(code, sw.Elapsed, AfterKill, client, second, expected, report);
    }

    /// <summary>The client ended with exit 0 within <paramref name="bound"/> of the recovery, with the undisturbed findings.</summary>
    internal static void AssertFinished(int? code, TimeSpan elapsed, TimeSpan bound, MagnetonProcess client, MagnetonProcess silo, string expected, string report)
    {
        Assert.True(code == 0, $"client exit {code?.ToString() ?? "none (still running)"}:\n{client.Stderr}\nsilo:\n{silo.StderrTail(30)}");
        Assert.True(elapsed < bound, $"finished {elapsed} after the recovery, over the bound of {bound}");
        Assert.Equal(expected, Findings(report));
    }

    /// <summary>
    /// Localhost clustering (<c>--primary</c>) is for development on one machine: the primary silo holds the
    /// membership, so losing it leaves the others unable to agree on who is alive. What must hold even then: the
    /// waiting client ends, with the findings or with one line (exit 2) within its --timeout; and after every
    /// silo is restarted the same compare succeeds.
    /// </summary>
    [Fact]
    public async Task Losing_the_primary_in_localhost_mode_ends_the_client_in_time_and_a_restart_recovers()
    {
        string expected = await EmbeddedFindingsAsync();
        string store = Work("store");
        var ports = MagnetonProcess.FreePorts(4);
        string[] Primary() => ["--silo-port", $"{ports[0]}", "--gateway-port", $"{ports[1]}", "--storage-dir", store];
        string[] Other() => ["--silo-port", $"{ports[2]}", "--gateway-port", $"{ports[3]}", "--storage-dir", store, "--primary", $"127.0.0.1:{ports[0]}"];
        var primary = await MagnetonProcess.StartAsync(Primary());
        var other = await MagnetonProcess.StartAsync(Other());
        string cluster = $"127.0.0.1:{ports[3]}"; // the client knows only the other silo's gateway
        const int timeout = 60;
        string report = Work("report.json");
        await using var client = MagnetonProcess.StartClient(
            ["compare", "--cluster", cluster, TestRepo.GeluA, TestRepo.GeluB, "--json", report, "--quiet", "--timeout", $"{timeout}"]);
        await Until(() => Count(client.Stderr, "run:") >= 2 || client.HasExited, "the client uploaded both bundles", client);
        var sw = Stopwatch.StartNew();
        primary.Kill();
        await primary.DisposeAsync();

        var code = await client.WaitForExitAsync(TimeSpan.FromSeconds(timeout + 30));
        output.WriteLine($"exit {code} {sw.Elapsed.TotalSeconds:0.0} s after the primary was killed; client stderr:\n{client.Stderr}");
        Assert.True(code is not null, $"still running {sw.Elapsed} after the primary was killed:\n{client.Stderr}");
        // --timeout counts from the client's start, before the kill: it ends within it (a few seconds for the process to exit).
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(timeout + 5), $"ended {sw.Elapsed} after the kill, past --timeout {timeout}");
        if (code == 0) Assert.Equal(expected, Findings(report));
        else
        {
            Assert.Equal(2, code);
            Assert.Single(client.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("magneton: error: ", StringComparison.Ordinal));
        }

        // Recovery in this mode is a restart of every silo.
        other.Kill();
        await other.DisposeAsync();
        await using var primaryAgain = await MagnetonProcess.StartAsync(Primary());
        await using var otherAgain = await MagnetonProcess.StartAsync(Other());
        string after = Work("after.json");
        var again = await CliRunner.Run("compare", "--cluster", cluster, TestRepo.GeluA, TestRepo.GeluB, "--json", after, "--quiet");
        Assert.True(again.Code == 0, again.Err);
        Assert.Equal(expected, Findings(after));
    }

    const int SIGINT = 2, SIGTERM = 15, SIGSTOP = 19;

    /// <summary>The CLI's TLS options with a fresh certificate of <paramref name="role"/>; none without TLS.</summary>
    static string[] TlsOptions(TestCertificates? certs, string role) => certs is null ? [] : certs.Options(certs.Issue(role));

    /// <summary>Lines saying a bundle was uploaded or found stored ("run:&lt;id&gt;: uploaded ...", "run:&lt;id&gt;: ... already in the cluster").</summary>
    internal static int Count(string text, string what)
    {
        int n = 0;
        foreach (var line in text.Split('\n'))
            if (line.StartsWith(what, StringComparison.Ordinal) && (line.Contains(": uploaded") || line.Contains("already in the cluster"))) n++;
        return n;
    }

    internal static async Task Until(Func<bool> condition, string what, MagnetonProcess client)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > Patience) throw new TimeoutException($"not within {Patience.TotalSeconds:0} s: {what}\nclient stderr:\n{client.Stderr}");
            await Task.Delay(20);
        }
    }

    Task<string> EmbeddedFindingsAsync(string threshold = "0.10") => EmbeddedFindingsAsync(_work.Path, threshold);

    /// <summary>The findings (JSON) of the same compare on an embedded silo: the undisturbed outcome.</summary>
    internal static async Task<string> EmbeddedFindingsAsync(string work, string threshold = "0.10")
    {
        string file = Path.Combine(work, $"embedded-{Guid.NewGuid():N}.json");
        var r = await CliRunner.Run("compare", TestRepo.GeluA, TestRepo.GeluB, "--threshold", threshold, "--json", file, "--quiet");
        Assert.True(r.Code == 0, r.Err);
        var findings = Findings(file);
        Assert.NotEqual("[]", findings);
        return findings;
    }

    internal static string Findings(string reportFile)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(reportFile));
        return doc.RootElement.GetProperty("findings").GetRawText();
    }
}
