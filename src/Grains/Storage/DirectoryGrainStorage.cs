using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Orleans.Storage;

namespace Magneton.Grains.Storage;

/// <summary>
/// Orleans grain storage in a local directory (<c>--storage-dir</c>): one JSON file per grain,
/// <c>&lt;root&gt;/grains/&lt;stateName&gt;/&lt;escaped grain id&gt;.json</c>, holding
/// <c>{"etag":"3","state":{...}}</c>. The ETag is a version number that grows by one per write; a write or clear
/// whose ETag is not the stored one throws <see cref="InconsistentStateException"/>, as Orleans' providers do.
/// Files are written to a temp file, flushed and renamed over the old one, so a crash never leaves half a state.
/// The state is serialized by the given <see cref="IGrainStorageSerializer"/> (System.Text.Json in Magneton).
/// Each read-check-write of a grain's file holds a lock shared with other processes using the same directory
/// (several silos on one machine), so the ETag check holds even with a duplicate activation.
/// </summary>
public sealed class DirectoryGrainStorage : IGrainStorage
{
    readonly IGrainStorageSerializer _serializer;
    readonly StripedFileLock _locks;

    public DirectoryGrainStorage(string root, IGrainStorageSerializer serializer)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        ArgumentNullException.ThrowIfNull(serializer);
        Directory = Path.Combine(Path.GetFullPath(root), "grains");
        _serializer = serializer;
        System.IO.Directory.CreateDirectory(Directory);
        _locks = new StripedFileLock(Path.Combine(Directory, ".locks"));
    }

    /// <summary>The directory that holds one subdirectory per state name.</summary>
    public string Directory { get; }

    /// <summary>The file that holds one grain's state.</summary>
    public string PathOf(string stateName, GrainId grainId) =>
        Path.Combine(Directory, Escape(stateName), Escape(grainId.ToString()) + ".json");

    /// <summary>
    /// A file name for any string: [A-Za-z0-9_-] and inner dots kept, every other UTF-8 byte as %XX; a long
    /// name is cut and given a hash of the whole, so different ids never share a file.
    /// </summary>
    public static string Escape(string s)
    {
        var sb = new StringBuilder(s.Length + 8);
        var bytes = Encoding.UTF8.GetBytes(s);
        for (int i = 0; i < bytes.Length; i++)
        {
            var b = bytes[i];
            bool keep = b is >= (byte)'a' and <= (byte)'z' or >= (byte)'A' and <= (byte)'Z' or >= (byte)'0' and <= (byte)'9'
                or (byte)'-' or (byte)'_' || (b == (byte)'.' && i > 0 && i < bytes.Length - 1 && bytes[i - 1] != (byte)'.');
            if (keep) sb.Append((char)b);
            else sb.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        if (sb.Length == 0) return "%";
        if (sb.Length <= 180) return sb.ToString();
        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes), 0, 8);
        return sb.ToString(0, 160) + "~" + hash;
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ReadStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        WriteStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ClearStateAsync(stateName, grainId, grainState, CancellationToken.None);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var path = PathOf(stateName, grainId);
        using var _ = await LockAsync(path, cancellationToken).ConfigureAwait(false);
        var stored = await ReadFileAsync(path, cancellationToken).ConfigureAwait(false);
        if (stored is null)
        {
            grainState.State = Activator.CreateInstance<T>();
            grainState.ETag = null;
            grainState.RecordExists = false;
            return;
        }
        T? state;
        try
        {
            state = _serializer.Deserialize<T>(stored.Value.State);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidDataException($"{path}: the stored state is not a {typeof(T).Name} ({BundleStoreNames.FirstLine(e.Message)})", e);
        }
        grainState.State = state ?? Activator.CreateInstance<T>();
        grainState.ETag = stored.Value.ETag;
        grainState.RecordExists = true;
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        // Serialized first, on the caller's (the grain's) thread: after the awaits below this runs on the thread pool,
        // while a reentrant grain goes on changing its state (seen: "Collection was modified" on a job's done segments).
        var state = _serializer.Serialize(grainState.State);
        var path = PathOf(stateName, grainId);
        using var _ = await LockAsync(path, cancellationToken).ConfigureAwait(false);
        var stored = await ReadFileAsync(path, cancellationToken).ConfigureAwait(false);
        CheckETag(stateName, grainId, "write", stored?.ETag, grainState.ETag);

        long version = stored is null ? 1 : long.Parse(stored.Value.ETag, CultureInfo.InvariantCulture) + 1;
        var etag = version.ToString(CultureInfo.InvariantCulture);

        var buffer = new MemoryStream();
        await using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("etag", etag);
            w.WritePropertyName("state");
            w.WriteRawValue(state.ToMemory().Span, skipInputValidation: false);
            w.WriteEndObject();
        }
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await DirectoryBundleStore.WriteDurableAsync(path, buffer.GetBuffer().AsMemory(0, (int)buffer.Length), cancellationToken)
            .ConfigureAwait(false);
        grainState.ETag = etag;
        grainState.RecordExists = true;
    }

    public async Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState, CancellationToken cancellationToken)
    {
        var path = PathOf(stateName, grainId);
        using var _ = await LockAsync(path, cancellationToken).ConfigureAwait(false);
        var stored = await ReadFileAsync(path, cancellationToken).ConfigureAwait(false);
        if (stored is not null || grainState.ETag is not null)
            CheckETag(stateName, grainId, "clear", stored?.ETag, grainState.ETag);
        if (stored is not null) File.Delete(path);
        grainState.ETag = null;
        grainState.RecordExists = false;
        grainState.State = Activator.CreateInstance<T>();
    }

    static void CheckETag(string stateName, GrainId grainId, string operation, string? storedETag, string? currentETag)
    {
        if (!string.Equals(storedETag, currentETag, StringComparison.Ordinal))
            throw new InconsistentStateException(
                $"{operation} of state '{stateName}' of grain {grainId}: ETag mismatch (stored {storedETag ?? "none"}, the grain has {currentETag ?? "none"})",
                storedETag ?? "", currentETag ?? "");
    }

    static async Task<(string ETag, BinaryData State)?> ReadFileAsync(string path, CancellationToken ct)
    {
        byte[] bytes;
        try
        {
            bytes = await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        try
        {
            using var doc = JsonDocument.Parse(bytes);
            var root = doc.RootElement;
            var etag = root.GetProperty("etag").GetString();
            if (etag is null || !long.TryParse(etag, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                throw new InvalidDataException($"{path}: etag '{etag}' is not a version number");
            var state = root.GetProperty("state");
            return (etag, BinaryData.FromString(state.GetRawText()));
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new InvalidDataException($"{path}: not a grain state file ({BundleStoreNames.FirstLine(e.Message)})", e);
        }
    }

    Task<IDisposable> LockAsync(string path, CancellationToken ct) => _locks.AcquireAsync(path, ct);
}
