using Magneton.Client;
using Magneton.Grains;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Magneton.Tests.Cluster;

/// <summary>
/// The per-client bound on work in flight (issue 17): a client past <see cref="ClientWorkOptions.MaxInFlight"/> unfinished
/// comparisons is refused with one line, asking again for counted or finished work is not, and finished work frees
/// its place. Jobs are held in flight by closing the segment gate. Without TLS the owner is the client connection; with
/// TLS it is the certificate's subject.
/// </summary>
[Collection(AzuriteCollection.Name)]
public sealed class ClientWorkLimitTests(AzuriteFixture azurite)
{
    const int Limit = 2;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_client_past_its_bound_is_refused_in_one_line_until_its_work_finishes(bool tls)
    {
        var gate = new HoldingGate();
        gate.HoldAfter(0);
        await using var cluster = await TestCluster.StartAsync(azurite.ConnectionString, silos: 1, gate: gate, tls: tls,
            configure: silo => silo.Services.Configure<ClientWorkOptions>(o => o.MaxInFlight = Limit));
        var uploader = new BundleUploader(cluster.Client, TextWriter.Null);
        var a = await uploader.ResolveAsync(TestRepo.GeluA, CancellationToken.None);
        var b = await uploader.ResolveAsync(TestRepo.GeluB, CancellationToken.None);
        CompareRequest Request(int i) => new(a, b, 0.10 + i * 0.01);
        IMatchingJobGrain Job(int i) => cluster.Client.GetGrain<IMatchingJobGrain>(WorkIds.Job(Request(i)));

        for (int i = 0; i < Limit; i++) Assert.False((await Job(i).Start(Request(i))).Finished);
        var refused = await Assert.ThrowsAsync<MagnetonInputException>(() => Job(Limit).Start(Request(Limit)));
        Assert.DoesNotContain('\n', refused.Message);
        Assert.Contains($"has {Limit} comparisons or campaigns in flight already", refused.Message);
        Assert.Contains(tls ? "certificate CN=submitter" : "this client", refused.Message);
        // Asking again for work already counted is no new work.
        Assert.False((await Job(0).Start(Request(0))).Finished);
        // Nor may a client fill the count itself (here its own; with a name, anybody's).
        await Assert.ThrowsAsync<AccessDeniedException>(() =>
            cluster.Client.GetGrain<IClientWorkGrain>("cert:CN=somebody").Admit(false, "job-0000000000000000", 1));

        gate.Open();
        for (int i = 0; i < Limit; i++)
        {
            var report = await ClusterJob.RunAsync(cluster.Client, Request(i), TextWriter.Null, CancellationToken.None);
            Assert.NotEmpty(report.Findings);
        }
        // Finished work frees its place: the refused comparison runs now, and a finished one is answered when asked again.
        var third = await ClusterJob.RunAsync(cluster.Client, Request(Limit), TextWriter.Null, CancellationToken.None);
        Assert.NotEmpty(third.Findings);
        Assert.True((await Job(0).Start(Request(0))).Finished);
    }

    [Fact]
    public void Owners_are_certificate_subjects_with_TLS_and_client_connections_without()
    {
        var client = GrainId.Create("sys.client", Guid.NewGuid().ToString("N"));
        var other = GrainId.Create("sys.client", Guid.NewGuid().ToString("N"));
        var alice = new Caller("CN=alice, OU=submitter", ClusterRoles.Submit);
        // One certificate, any connection: one owner.
        Assert.Equal(WorkAdmission.Owner(alice, client), WorkAdmission.Owner(alice, other));
        Assert.NotEqual(WorkAdmission.Owner(alice, client), WorkAdmission.Owner(alice with { Name = "CN=bob, OU=submitter" }, client));
        // Nobody identified (no TLS): each connection is its own owner.
        Assert.NotEqual(WorkAdmission.Owner(Caller.Local, client), WorkAdmission.Owner(Caller.Local, other));
        Assert.Equal(WorkAdmission.Owner(Caller.Local, client), WorkAdmission.Owner(Caller.Local, client));
    }
}
