using System.Text.Json;
using Magneton.Client;
using Magneton.Grains;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.Cluster;

/// <summary>
/// Two <c>magneton silo</c> processes with mutual TLS (a CA and certificates made by the test): only clients with a
/// certificate of the cluster's CA connect, the certificate's OU decides what they may call, a job is bound to the
/// worker it was given to, and comparisons run across both silos as without TLS.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class TlsClusterTests(ITestOutputHelper output) : IAsyncLifetime
{
    readonly TestCertificates _certs = new();
    readonly DirectoryInfo _store = Directory.CreateTempSubdirectory("magneton-tls-store-");
    MagnetonProcess? _first, _second;

    string Cluster => $"127.0.0.1:{_first!.GatewayEndpoint.Port}";
    string SecondGateway => $"127.0.0.1:{_second!.GatewayEndpoint.Port}";

    public async Task InitializeAsync()
    {
        _first = await MagnetonProcess.StartOnFreePortsAsync((_, _) =>
            ["--storage-dir", _store.FullName, .. _certs.Options(_certs.Issue("silo", "silo-1"))]);
        // The second silo joins through the first one's silo port: silo-to-silo TLS, with its own certificate.
        try
        {
            _second = await MagnetonProcess.StartOnFreePortsAsync((_, _) =>
                ["--storage-dir", _store.FullName, "--primary", $"127.0.0.1:{_first.SiloEndpoint.Port}",
                 .. _certs.Options(_certs.Issue("silo", "silo-2"))]);
        }
        catch
        {
            await _first.DisposeAsync(); // xunit does not dispose a class whose initialization failed
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        if (_second is not null) await _second.DisposeAsync();
        if (_first is not null) await _first.DisposeAsync();
        _certs.Dispose();
        try { _store.Delete(recursive: true); } catch (IOException) { }
    }

    Task<CliResult> Cli(Pem? pem, params string[] args) => CliRunner.Run([.. args, .. pem is null ? [] : _certs.Options(pem)]);

    /// <summary>A grain client of the cluster authenticated with this certificate (TLS options apply to this flow).</summary>
    Task<ClusterConnection> ConnectAs(Pem pem)
    {
        TlsArguments.Apply(_certs.Options(pem));
        return ClusterConnection.ConnectAsync(Cluster);
    }

    [Fact]
    public async Task Only_clients_with_a_certificate_of_the_clusters_CA_connect_and_compare_across_both_silos()
    {
        Assert.Contains("magneton silo: mutual TLS: certificate CN=silo-1, OU=silo", _first!.StderrTail(400));
        var submitter = _certs.Issue("submitter");

        // No certificate, or one of another CA: no connection, one line, exit 2.
        CliRunner.AssertOneLineError(await Cli(null, "runs", "--cluster", Cluster), $"--cluster {Cluster}: no Magneton cluster answered");
        var foreign = _certs.Foreign("submitter");
        CliRunner.AssertOneLineError(await CliRunner.Run("runs", "--cluster", Cluster, "--tls-cert", foreign.Cert, "--tls-key", foreign.Key,
            "--tls-ca", _certs.OtherCaPem), "no Magneton cluster answered");
        // A certificate that is not of the CA it names is refused before connecting.
        CliRunner.AssertOneLineError(await Cli(foreign, "runs", "--cluster", Cluster), "not signed by the cluster's CA");
        // A client certificate on the silo-to-silo port: refused (that port admits silos only).
        var siloPort = $"127.0.0.1:{_first.SiloEndpoint.Port}";
        CliRunner.AssertOneLineError(await Cli(submitter, "runs", "--cluster", siloPort), "no Magneton cluster answered");
        // Half the TLS options: a usage error before anything connects.
        CliRunner.AssertOneLineError(await CliRunner.Run("runs", "--cluster", Cluster, "--tls-cert", "x.pem"), "all three of --tls-cert, --tls-key and --tls-ca");

        // A submitter uploads and compares through one gateway; a reader reads the stored report through the other.
        var compare = await Cli(submitter, "compare", "--cluster", Cluster, TestRepo.GeluA, TestRepo.GeluB, "--json", "-");
        output.WriteLine(compare.Err);
        Assert.Equal(0, compare.Code);
        using var report = JsonDocument.Parse(compare.Out);
        Assert.NotEmpty(report.RootElement.GetProperty("findings").EnumerateArray());
        var reader = _certs.Issue("reader");
        var runs = await Cli(reader, "runs", "--cluster", SecondGateway, "--json");
        Assert.Equal(0, runs.Code);
        Assert.Equal(2, JsonDocument.Parse(runs.Out).RootElement.GetArrayLength());

        // A reader may not upload or compare: refused with the role it lacks, nothing stored.
        var denied = await Cli(reader, "compare", "--cluster", Cluster, TestRepo.GeluB, TestRepo.GeluA);
        CliRunner.AssertOneLineError(denied, "has none of the roles submitter, worker");
        var deniedSubmit = await Cli(reader, "submit", "--cluster", Cluster, "--system", "s", "--workload", "w");
        CliRunner.AssertOneLineError(deniedSubmit, "ICaptureSchedulerGrain.Submit");
    }

    [Fact]
    public async Task Only_a_worker_certificate_takes_jobs_a_job_is_bound_to_its_worker_and_only_its_submitter_sees_its_arguments()
    {
        var alice = _certs.Issue("submitter", "alice");
        await using (var asAlice = await ConnectAs(alice))
        {
            var queue = asAlice.Client.GetGrain<ICaptureSchedulerGrain>(CaptureWorker.Scheduler);
            var job = await queue.Submit(new CaptureSpec("gpt2", [], Node: "n1", Workload: "gpt2", Arguments: ["--api-key=s3cret"]));
            Assert.Equal("CN=alice, OU=submitter, O=Magneton tests", job.Submitter);
            // A submitter is not a worker: it cannot take the job (and so cannot read its arguments that way).
            var e = await Assert.ThrowsAsync<AccessDeniedException>(() => queue.Heartbeat(Worker("n1")));
            Assert.Contains("has none of the roles worker", e.Message);
            // Alice sees her own job's arguments.
            Assert.Equal(["--api-key=s3cret"], (await queue.GetJob(job.JobId)).Spec.Arguments!);
        }

        var bob = _certs.Issue("submitter", "bob");
        await using (var asBob = await ConnectAs(bob))
        {
            var listed = Assert.Single(await asBob.Client.GetGrain<ICaptureSchedulerGrain>(CaptureWorker.Scheduler).Jobs());
            Assert.True(listed.Spec.Hidden);
            Assert.Empty(listed.Spec.Arguments!);
        }

        await using var first = await ConnectAs(_certs.Issue("worker", "gpu-node-1"));
        var firstQueue = first.Client.GetGrain<ICaptureSchedulerGrain>(CaptureWorker.Scheduler);
        var assigned = await firstQueue.Heartbeat(Worker("n1"));
        Assert.NotNull(assigned);
        Assert.Equal(["--api-key=s3cret"], assigned.Job.Spec.Arguments!);
        // A worker certificate cannot list jobs (no reader role).
        await Assert.ThrowsAsync<AccessDeniedException>(() => firstQueue.Jobs());

        // A second worker, even beating under the same worker id, neither gets the job nor can complete it.
        await using var second = await ConnectAs(_certs.Issue("worker", "gpu-node-2"));
        var secondQueue = second.Client.GetGrain<ICaptureSchedulerGrain>(CaptureWorker.Scheduler);
        var impostor = await Assert.ThrowsAsync<AccessDeniedException>(() => secondQueue.Heartbeat(Worker("n1")));
        Assert.Contains("worker n1/gpu0 is registered by another certificate (CN=gpu-node-1, OU=worker", impostor.Message);
        Assert.Null(await secondQueue.Heartbeat(Worker("n2")));
        var forged = await secondQueue.Complete(assigned.Job.JobId, new string('0', 64), "run-00000000000000ee");
        Assert.Equal(CaptureState.Running, forged.State);
        Assert.Null(forged.RunId);
        Assert.Empty(forged.Spec.Arguments!);

        var done = await firstQueue.Complete(assigned.Job.JobId, assigned.Token, "run-0000000000000001");
        Assert.Equal(CaptureState.Done, done.State);
    }

    static WorkerInfo Worker(string node) =>
        new($"{node}/gpu0", node, [new WorkerGpu(0, "NVIDIA H100 80GB HBM3", $"GPU-{node}", "580.65", 700)], null);
}

/// <summary>A silo without certificates: loopback only, refused elsewhere before it binds anything.</summary>
public sealed class SiloWithoutTlsTests
{
    [Fact]
    public async Task A_silo_without_TLS_refuses_to_listen_beyond_loopback_with_one_line()
    {
        var r = await CliRunner.Run("silo", "--listen", "0.0.0.0", "--silo-port", "1", "--gateway-port", "2");
        CliRunner.AssertOneLineError(r, "a silo without TLS listens on loopback only; to listen on 0.0.0.0 give --tls-cert, --tls-key and --tls-ca");
    }
}
