using System.Diagnostics;
using System.Net;
using Magneton.Silo;
using Magneton.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Orleans.Configuration;
using Orleans.Runtime;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.Cluster;

/// <summary>
/// ADO.NET membership on PostgreSQL: Magneton's schema (src/Silo/Sql) with Orleans 10.4.2's clustering
/// provider, two in-process silos built by <see cref="SiloHost.Build"/> and a client that finds their gateways
/// in the same table.
/// </summary>
public sealed class PostgresClusteringTests(Postgres postgres, ITestOutputHelper output) : IClassFixture<Postgres>
{
    static readonly string[] QueryKeys =
    [
        "InsertMembershipVersionKey", "InsertMembershipKey", "UpdateMembershipKey", "UpdateIAmAlivetimeKey",
        "MembershipReadRowKey", "MembershipReadAllKey", "DeleteMembershipTableEntriesKey", "GatewaysQueryKey",
        "CleanupDefunctSiloEntriesKey", "CleanupDefunctSiloEntryKey",
    ];

    [PostgresFact]
    public async Task Schema_is_created_once_even_by_concurrent_silos()
    {
        string db = await postgres.CreateDatabaseAsync();
        bool fresh = !await TableExistsAsync(db, "orleansmembershiptable");

        var created = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => SiloHost.EnsurePostgresSchemaAsync(db)));
        Assert.Equal(fresh ? 1 : 0, created.Count(c => c));
        Assert.False(await SiloHost.EnsurePostgresSchemaAsync(db));

        await using var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT QueryKey FROM OrleansQuery", conn);
        var keys = new List<string>();
        await using (var r = await cmd.ExecuteReaderAsync())
            while (await r.ReadAsync()) keys.Add(r.GetString(0));
        foreach (var key in QueryKeys) Assert.Contains(key, keys);
    }

    [PostgresFact]
    public async Task Two_silos_join_through_postgres_and_a_client_finds_them_there()
    {
        string db = await postgres.CreateDatabaseAsync();
        string clusterId = "pg-" + Guid.NewGuid().ToString("N")[..8];
        var sw = Stopwatch.StartNew();
        var first = await StartSiloAsync(db, clusterId);
        var firstStart = sw.Elapsed;
        sw.Restart();
        var second = await StartSiloAsync(db, clusterId);
        output.WriteLine($"silos started in {firstStart.TotalSeconds:0.00} s and {sw.Elapsed.TotalSeconds:0.00} s");
        try
        {
            var firstInfo = SiloHost.Describe(first);
            var secondInfo = SiloHost.Describe(second);
            output.WriteLine(firstInfo.ReadyLine);
            Assert.Equal(clusterId, firstInfo.ClusterId);

            var rows = await MembershipRowsAsync(db, clusterId);
            Assert.Equal(2, rows.Count);
            Assert.All(rows, r => Assert.Equal((int)SiloStatus.Active, r.Status));
            Assert.Contains(rows, r => r.Port == firstInfo.Silo.Port && r.ProxyPort == firstInfo.Gateway!.Port);
            Assert.Contains(rows, r => r.Port == secondInfo.Silo.Port && r.ProxyPort == secondInfo.Gateway!.Port);

            // A client that knows only the database: gateways come from GatewaysQueryKey.
            using (var client = new HostBuilder()
                .UseOrleansClient(c => c
                    .UseAdoNetClustering(o => { o.Invariant = SiloHost.NpgsqlInvariant; o.ConnectionString = db; })
                    .Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = SiloHostOptions.DefaultServiceId; })
                    .AddMagnetonClient())
                .Build())
            {
                await client.StartAsync();
                var management = client.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);
                var hosts = await management.GetHosts(onlyActive: true);
                Assert.Equal(2, hosts.Count);
                Assert.Contains(firstInfo.Silo, hosts.Keys.Select(s => s.Endpoint));
                Assert.Contains(secondInfo.Silo, hosts.Keys.Select(s => s.Endpoint));
                await client.StopAsync();
            }

            // A graceful stop marks the silo Dead in the table (UpdateMembershipKey).
            sw.Restart();
            await second.StopAsync();
            output.WriteLine($"second silo stopped in {sw.Elapsed.TotalSeconds:0.00} s");
            rows = await MembershipRowsAsync(db, clusterId);
            Assert.Equal((int)SiloStatus.Dead, rows.Single(r => r.Port == secondInfo.Silo.Port).Status);
            Assert.Equal((int)SiloStatus.Active, rows.Single(r => r.Port == firstInfo.Silo.Port).Status);
        }
        finally
        {
            await StopAsync(second);
            await StopAsync(first);
        }
    }

    /// <summary>
    /// Orleans' membership table contract, call by call, through Orleans' own ADO.NET provider over Magneton's
    /// queries: optimistic concurrency on the table version, suspicions, heartbeats, dead-row cleanup.
    /// </summary>
    [PostgresFact]
    public async Task Membership_table_contract_holds_on_the_schema()
    {
        string db = await postgres.CreateDatabaseAsync();
        string clusterId = "contract-" + Guid.NewGuid().ToString("N")[..8];
        await SiloHost.EnsurePostgresSchemaAsync(db);
        // A silo host that is built but never started gives Orleans' provider for this cluster id.
        using var host = SiloHost.Build(new SiloHostOptions
        {
            SiloPort = 1, GatewayPort = 2, ClusterId = clusterId, PostgresConnectionString = db, Kubernetes = false,
            MinimumLogLevel = LogLevel.Error,
        });
        var table = host.Services.GetRequiredService<IMembershipTable>();
        await table.InitializeMembershipTableAsync(tryInitTableVersion: true);
        await table.InitializeMembershipTableAsync(tryInitTableVersion: true); // the version row exists: no error

        var empty = await table.ReadAllAsync();
        Assert.Empty(empty.Members);
        var v0 = empty.Version;

        var now = DateTime.UtcNow;
        var a = Entry(SiloAddress.New(IPAddress.Loopback, 11111, 1), SiloStatus.Joining, now);
        var b = Entry(SiloAddress.New(IPAddress.Loopback, 11112, 1), SiloStatus.Joining, now);
        Assert.True(await table.InsertRowAsync(a, v0.Next()));
        Assert.False(await table.InsertRowAsync(b, v0.Next()));          // stale table version
        Assert.False(await table.InsertRowAsync(a, (await table.ReadAllAsync()).Version.Next())); // row exists

        var v1 = (await table.ReadAllAsync()).Version;
        Assert.Equal(v0.Version + 1, v1.Version);
        Assert.True(await table.InsertRowAsync(b, v1.Next()));

        var all = await table.ReadAllAsync();
        Assert.Equal(2, all.Members.Count);
        var readA = all.Members.Single(m => m.Item1.SiloAddress.Equals(a.SiloAddress));
        Assert.Equal(a.ProxyPort, readA.Item1.ProxyPort);
        Assert.Equal("silo-11111", readA.Item1.SiloName);
        Assert.Equal(DateTimeKind.Utc, readA.Item1.StartTime.Kind);
        Assert.True(Math.Abs((readA.Item1.StartTime - now).TotalMilliseconds) < 1);

        // b suspects a, then a becomes Active; each update needs the current table version.
        var suspected = readA.Item1;
        suspected.SuspectTimes = [Tuple.Create(b.SiloAddress, now)];
        Assert.True(await table.UpdateRowAsync(suspected, readA.Item2, all.Version.Next()));
        Assert.False(await table.UpdateRowAsync(suspected, readA.Item2, all.Version.Next())); // that version is gone
        var row = (await table.ReadRowAsync(a.SiloAddress)).Members.Single().Item1;
        Assert.Equal(b.SiloAddress, Assert.Single(row.SuspectTimes!).Item1);

        // Heartbeat: IAmAliveTime moves, the table version does not.
        var before = (await table.ReadAllAsync()).Version;
        row.IAmAliveTime = now.AddSeconds(5);
        await table.UpdateIAmAliveAsync(row);
        var afterHeartbeat = await table.ReadRowAsync(a.SiloAddress);
        Assert.Equal(before.Version, afterHeartbeat.Version.Version);
        Assert.True(Math.Abs((afterHeartbeat.Members.Single().Item1.IAmAliveTime - now.AddSeconds(5)).TotalMilliseconds) < 1);

        // b dies; cleanup removes dead rows last heard of before the cutoff, and only those.
        var all2 = await table.ReadAllAsync();
        var deadB = all2.Members.Single(m => m.Item1.SiloAddress.Equals(b.SiloAddress));
        deadB.Item1.Status = SiloStatus.Dead;
        Assert.True(await table.UpdateRowAsync(deadB.Item1, deadB.Item2, all2.Version.Next()));
        await table.CleanupDefunctSiloEntriesAsync(DateTimeOffset.UtcNow.AddMinutes(1));
        var remaining = (await table.ReadAllAsync()).Members.Select(m => m.Item1.SiloAddress).ToList();
        Assert.Equal([a.SiloAddress], remaining);

        // a becomes Active (what GatewaysQueryKey lists for clients).
        var activeA = (await table.ReadAllAsync());
        var rowA = activeA.Members.Single();
        rowA.Item1.Status = SiloStatus.Active;
        Assert.True(await table.UpdateRowAsync(rowA.Item1, rowA.Item2, activeA.Version.Next()));
        Assert.Equal(1, await CountAsync(db, $"SELECT count(*) FROM OrleansMembershipTable WHERE DeploymentId = '{clusterId}' AND Status = 3"));

        await table.DeleteMembershipTableEntriesAsync(clusterId);
        Assert.Equal(0, await CountAsync(db, $"SELECT count(*) FROM OrleansMembershipVersionTable WHERE DeploymentId = '{clusterId}'"));
        Assert.Equal(0, await CountAsync(db, $"SELECT count(*) FROM OrleansMembershipTable WHERE DeploymentId = '{clusterId}'"));
    }

    static MembershipEntry Entry(SiloAddress silo, SiloStatus status, DateTime now) => new()
    {
        SiloAddress = silo,
        SiloName = "silo-" + silo.Endpoint.Port,
        HostName = "host",
        Status = status,
        ProxyPort = silo.Endpoint.Port + 1000,
        StartTime = now,
        IAmAliveTime = now,
        SuspectTimes = [],
    };

    static async Task<long> CountAsync(string db, string sql)
    {
        await using var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(sql, conn);
        return Convert.ToInt64(await cmd.ExecuteScalarAsync());
    }

    static async Task<IHost> StartSiloAsync(string db, string clusterId)
    {
        for (int attempt = 1; ; attempt++)
        {
            var ports = MagnetonProcess.FreePorts(2);
            var host = SiloHost.Build(new SiloHostOptions
            {
                SiloPort = ports[0],
                GatewayPort = ports[1],
                ClusterId = clusterId,
                PostgresConnectionString = db,
                Kubernetes = false,
                MinimumLogLevel = LogLevel.Error,
            });
            try
            {
                await host.StartAsync();
                return host;
            }
            catch (Exception) when (attempt < 3)
            {
                await StopAsync(host); // a port taken meanwhile: other ports
            }
        }
    }

    static async Task StopAsync(IHost host)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await host.StopAsync(cts.Token); } catch (OperationCanceledException) { } catch (ObjectDisposedException) { }
        host.Dispose();
    }

    sealed record Row(string Address, int Port, int Status, int ProxyPort);

    static async Task<List<Row>> MembershipRowsAsync(string db, string clusterId)
    {
        await using var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand(
            "SELECT Address, Port, Status, ProxyPort FROM OrleansMembershipTable WHERE DeploymentId = @id", conn);
        cmd.Parameters.AddWithValue("id", clusterId);
        var rows = new List<Row>();
        await using var r = await cmd.ExecuteReaderAsync();
        while (await r.ReadAsync()) rows.Add(new Row(r.GetString(0), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3)));
        return rows;
    }

    static async Task<bool> TableExistsAsync(string db, string table)
    {
        await using var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand($"SELECT to_regclass('{table}') IS NOT NULL", conn);
        return await cmd.ExecuteScalarAsync() is true;
    }
}
