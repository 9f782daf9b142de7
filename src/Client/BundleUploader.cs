using System.Security.Cryptography;
using Magneton.Core.Bundles;
using Magneton.Grains;
using Magneton.Grains.Storage;

namespace Magneton.Client;

/// <summary>
/// Turns a compare argument into a run of the cluster: <c>run:&lt;id&gt;</c> names a stored run; a directory is
/// checked here first (read in full, so a malformed or oversized bundle is refused before it reaches a grain),
/// then uploaded in chunks unless the cluster already holds the same files.
/// </summary>
public sealed class BundleUploader
{

    readonly ClusterConnection _connection;
    readonly TextWriter _log;

    public BundleUploader(ClusterConnection connection, TextWriter log)
    {
        _connection = connection;
        _log = log;
    }

    public BundleUploader(IClusterClient client, TextWriter log) : this(ClusterConnection.Over(client), log) { }

    /// <summary>A local bundle that passed the checks, with its manifest: ready to upload.</summary>
    public sealed record CheckedBundle(string Path, BundleManifest Manifest);

    /// <summary>
    /// Checks a compare argument without the cluster: a directory is size-checked, read in full and hashed
    /// (null for <c>run:&lt;id&gt;</c>). Bad input throws the reader's one-line error here, before any connection.
    /// </summary>
    public static async Task<CheckedBundle?> CheckAsync(string argument, CancellationToken ct)
    {
        if (RunArgument.Is(argument))
        {
            RunArgument.Id(argument); // a run: without a usable id is refused before any connection
            return null;
        }
        var path = RunIds.NormalizePath(argument);
        CheckSizes(path);
        var bundle = await Task.Run(() => LocalBundle.Read(argument), ct).ConfigureAwait(false);
        return new CheckedBundle(path, await ManifestAsync(path, bundle.Dataflow.System, ct).ConfigureAwait(false));
    }

    public async Task<RunRef> ResolveAsync(string argument, CancellationToken ct) =>
        await ResolveAsync(argument, await CheckAsync(argument, ct).ConfigureAwait(false), ct).ConfigureAwait(false);

    /// <summary>The run for a compare argument: a stored run by id, or the checked bundle uploaded (unless stored).</summary>
    public async Task<RunRef> ResolveAsync(string argument, CheckedBundle? bundle, CancellationToken ct)
    {
        if (bundle is null)
        {
            var id = RunArgument.Id(argument);
            if (await _connection.CallAsync(c => c.GetGrain<IRunGrain>(id).GetManifest(), ct).ConfigureAwait(false) is null)
                throw new UsageException($"{argument}: no such run in the cluster (see magneton runs --cluster ...)");
            return RunRef.Stored(id);
        }
        return await UploadAsync(bundle, ct).ConfigureAwait(false);
    }

    /// <summary>Uploads a run again if it is one of <paramref name="held"/> (false: this client does not hold its bundle).</summary>
    public Func<string, CancellationToken, Task<bool>> UploadAgain(IEnumerable<CheckedBundle?> held)
    {
        var byRun = held.OfType<CheckedBundle>().GroupBy(c => c.Manifest.RunId).ToDictionary(g => g.Key, g => g.First());
        return async (runId, ct) =>
        {
            if (!byRun.TryGetValue(runId, out var bundle)) return false;
            await UploadAsync(bundle, ct).ConfigureAwait(false);
            return true;
        };
    }

    async Task<RunRef> UploadAsync(CheckedBundle bundle, CancellationToken ct)
    {
        var (path, manifest) = bundle;
        const int attempts = 3;
        for (int attempt = 1; ; attempt++)
        {
            // From the connection's current client: it is made anew when its gateways went away.
            var run = _connection.Client.GetGrain<IRunGrain>(manifest.RunId);
            try
            {
                if (await run.BeginUpload(manifest).WaitAsync(ct).ConfigureAwait(false))
                {
                    await _log.WriteLineAsync($"{RunArgument.Typed(manifest.RunId)}: already in the cluster ({path})").ConfigureAwait(false);
                    return RunRef.Stored(manifest.RunId);
                }
                foreach (var file in manifest.Files)
                    await SendAsync(run, path, file, ct).ConfigureAwait(false);
                await run.CompleteUpload().WaitAsync(ct).ConfigureAwait(false);
                await _log.WriteLineAsync($"{RunArgument.Typed(manifest.RunId)}: uploaded {Describe(manifest.TotalBytes)} from {path}").ConfigureAwait(false);
                return RunRef.Stored(manifest.RunId);
            }
            catch (Exception e) when (Transient.Is(e))
            {
                if (attempt == attempts)
                    throw new ClusterUnavailableException(
                        $"{RunArgument.Typed(manifest.RunId)}: upload of {path} failed {attempts} times, the cluster did not take it: {Program.OneLine(e.Message)}");
                // The silo holding the upload was lost, or storage hiccuped: start the upload again.
                await _log.WriteLineAsync($"{RunArgument.Typed(manifest.RunId)}: upload interrupted ({Program.OneLine(e.Message)}); starting again").ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromSeconds(attempt), ct).ConfigureAwait(false);
            }
        }
    }

    static async Task SendAsync(IRunGrain run, string directory, BundleFileEntry file, CancellationToken ct)
    {
        await using var stream = new FileStream(Path.Combine(directory, file.Name), FileMode.Open, FileAccess.Read,
            FileShare.Read, bufferSize: 1, FileOptions.SequentialScan | FileOptions.Asynchronous);
        var buffer = new byte[UploadLimits.ChunkBytes];
        long offset = 0;
        while (offset < file.Length)
        {
            int n = await stream.ReadAtLeastAsync(buffer, (int)Math.Min(buffer.Length, file.Length - offset), throwOnEndOfStream: false, ct)
                .ConfigureAwait(false);
            if (n == 0) throw new UsageException($"{file.Name}: changed while it was being uploaded (shorter than {file.Length} bytes)");
            await run.UploadChunk(file.Name, offset, buffer.AsSpan(0, n).ToArray()).ConfigureAwait(false);
            offset += n;
        }
    }

    /// <summary>Refuses files larger than a cluster accepts, before anything reads them.</summary>
    static void CheckSizes(string directory)
    {
        if (!Directory.Exists(directory)) throw new UsageException($"{directory}: bundle not found (no such directory)");
        foreach (var file in Directory.EnumerateFiles(directory))
        {
            var name = Path.GetFileName(file);
            long length = LengthOf(file);
            if (BundleFiles.IsKnown(name) && length > BundleLimits.MaxFileBytes(name))
                throw new UsageException($"{file}: is {BundleLimits.Describe(length)}; the cluster accepts at most {BundleLimits.Describe(BundleLimits.MaxFileBytes(name))}");
        }
    }

    /// <summary>The bundle's known files with lengths and SHA-256.</summary>
    public static async Task<BundleManifest> ManifestAsync(string directory, string system, CancellationToken ct)
    {
        var entries = new List<BundleFileEntry>();
        foreach (var file in Directory.EnumerateFiles(directory).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(file);
            if (!BundleFiles.IsKnown(name)) continue; // notes, logs: not part of the capture
            await using var s = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            long length = s.Length; // of the file itself: a symbolic link's own length is that of its target's name
            var hash = await SHA256.HashDataAsync(s, ct).ConfigureAwait(false);
            entries.Add(new BundleFileEntry(name, length, Convert.ToHexStringLower(hash)));
        }
        return new BundleManifest(BundleManifest.RunIdOf(entries), system, [.. entries], directory, DateTimeOffset.UtcNow);
    }

    /// <summary>The length of a bundle file, following a symbolic link to the file it names.</summary>
    static long LengthOf(string file)
    {
        var info = new FileInfo(file);
        return info.LinkTarget is null ? info.Length : (info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo)?.Length ?? 0;
    }

    static string Describe(long bytes) => BundleLimits.Describe(bytes);
}
