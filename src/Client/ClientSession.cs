using Magneton.Core.Runs;
using Magneton.Grains;
using Magneton.Silo;

namespace Magneton.Client;

/// <summary>
/// Where a command's grains run and how its bundle arguments become runs: on a cluster (<c>--cluster</c>: bundles
/// checked here first, then uploaded unless stored; <c>run:&lt;id&gt;</c> allowed) or on an embedded silo (local
/// directories read here and handed to it).
/// </summary>
public sealed class ClientSession : IAsyncDisposable
{
    readonly IAsyncDisposable _owner;

    ClientSession(IAsyncDisposable owner, ClusterConnection connection, IReadOnlyList<RunRef> runs, bool embedded,
        Func<string, CancellationToken, Task<bool>>? uploadAgain = null)
    {
        _owner = owner;
        Connection = connection;
        Runs = runs;
        Embedded = embedded;
        UploadAgain = uploadAgain;
    }

    /// <summary>Uploads a run the cluster's store lost again, when it is one of this command's bundles (null: embedded, nothing to upload).</summary>
    public Func<string, CancellationToken, Task<bool>>? UploadAgain { get; }

    /// <summary>Grain calls of the command: retried, and on a cluster reconnected when its gateways go away.</summary>
    public ClusterConnection Connection { get; }
    public IClusterClient Client => Connection.Client;
    /// <summary>One run per bundle argument, in order.</summary>
    public IReadOnlyList<RunRef> Runs { get; }
    public bool Embedded { get; }

    /// <param name="checkLocal">read local bundles here before the embedded silo starts (errors naming the bundle); a
    /// campaign leaves a broken version to its comparison, which fails alone</param>
    public static async Task<ClientSession> OpenAsync(ClusterTarget? cluster, IReadOnlyList<string> bundles, TextWriter log, CancellationToken ct,
        bool checkLocal = true)
    {
        if (cluster is null)
        {
            foreach (var b in bundles)
            {
                if (RunArgument.Is(b))
                    throw new UsageException($"{b}: stored runs are in a cluster; add --cluster host:port");
                if (!Directory.Exists(b)) throw new UsageException($"{b}: bundle not found (no such directory)");
            }
            // Before the silo starts. Built here and handed to the silo, so that it does not read them again, as long as
            // its run cache holds them all; more are only checked (the silo reads each when its job needs it).
            IReadOnlyList<Run> built = [];
            if (checkLocal && bundles.Count <= RunCache.DefaultCapacity) built = await LocalBundle.IngestAllAsync(bundles, ct).ConfigureAwait(false);
            else if (checkLocal) await LocalBundle.CheckAllAsync(bundles, ct).ConfigureAwait(false);
            var silo = await EmbeddedSilo.StartAsync(CliLogging.Configure, ct).ConfigureAwait(false);
            var local = bundles.Select(RunRef.Local).ToList();
            for (int i = 0; i < built.Count; i++) silo.Keep(local[i], built[i]);
            return new ClientSession(silo, ClusterConnection.Over(silo.Client), local, embedded: true);
        }

        // Bad input is refused here, before any connection: nothing malformed or oversized reaches a grain.
        var checks = new List<BundleUploader.CheckedBundle?>();
        foreach (var b in bundles) checks.Add(await BundleUploader.CheckAsync(b, ct).ConfigureAwait(false));
        var connection = await ClusterConnection.ConnectAsync(cluster, ct).ConfigureAwait(false);
        try
        {
            var uploader = new BundleUploader(connection, log);
            var runs = new List<RunRef>();
            for (int i = 0; i < bundles.Count; i++) runs.Add(await uploader.ResolveAsync(bundles[i], checks[i], ct).ConfigureAwait(false));
            return new ClientSession(connection, connection, runs, embedded: false, uploader.UploadAgain(checks));
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_owner is EmbeddedSilo silo) await silo.StopAsync().ConfigureAwait(false);
        await _owner.DisposeAsync().ConfigureAwait(false);
    }
}
