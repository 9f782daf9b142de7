using System.Text.Json;
using System.Text.Json.Serialization;

namespace Magneton.Grains.Storage;

/// <summary>
/// What both bundle stores accept as run ids, job ids and bundle file names, and how they write manifests.
/// Names become path segments and blob name segments, so they are checked strictly: 1 to 200 characters of
/// [A-Za-z0-9._-], no "..", never "." alone. Anything else is a <see cref="BundleStoreException"/>.
/// </summary>
public static class BundleStoreNames
{
    /// <summary>The manifest's own file name in a stored bundle; no bundle file may carry it.</summary>
    public const string ManifestFile = "manifest.json";

    public const int MaxNameLength = 200;

    static readonly JsonSerializerOptions ManifestJson = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public static bool IsValidName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxNameLength || name == "." || name.Contains("..", StringComparison.Ordinal))
            return false;
        foreach (var c in name)
            if (!(c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9' or '.' or '_' or '-'))
                return false;
        return true;
    }

    /// <summary>Throws a one-line <see cref="BundleStoreException"/> unless <paramref name="name"/> is a valid name.</summary>
    public static string Check(string? name, string what)
    {
        if (!IsValidName(name))
            throw new BundleStoreException(
                $"invalid {what} '{Printable(name)}': use 1-{MaxNameLength} characters of A-Z a-z 0-9 . _ - and no '..'");
        return name!;
    }

    public static string CheckRunId(string? runId) => Check(runId, "run id");
    public static string CheckJobId(string? jobId) => Check(jobId, "job id");

    public static string CheckFileName(string? file)
    {
        Check(file, "bundle file name");
        if (string.Equals(file, ManifestFile, StringComparison.OrdinalIgnoreCase))
            throw new BundleStoreException($"invalid bundle file name '{file}': the name is reserved for the store's manifest");
        return file!;
    }

    /// <summary>
    /// Checks a manifest before a commit: valid names, no duplicates, sane lengths and hashes, and a run id that is
    /// <see cref="BundleManifest.RunIdOf"/> of its files (so one capture is one run wherever it was uploaded from).
    /// </summary>
    public static void CheckManifest(BundleManifest? manifest)
    {
        if (manifest is null) throw new BundleStoreException("no manifest was given");
        var runId = CheckRunId(manifest.RunId);
        if (manifest.Files is null || manifest.Files.Length == 0)
            throw new BundleStoreException($"{runId}: the manifest lists no files");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var f in manifest.Files)
        {
            if (f is null) throw new BundleStoreException($"{runId}: the manifest has an empty file entry");
            CheckFileName(f.Name);
            if (!seen.Add(f.Name)) throw new BundleStoreException($"{runId}: {f.Name}: listed twice in the manifest");
            if (f.Length < 0) throw new BundleStoreException($"{runId}: {f.Name}: negative length {f.Length} in the manifest");
            if (!IsSha256Hex(f.Sha256))
                throw new BundleStoreException($"{runId}: {f.Name}: sha256 '{Printable(f.Sha256)}' is not 64 lowercase hex digits");
        }
        var expected = BundleManifest.RunIdOf(manifest.Files);
        if (!string.Equals(expected, runId, StringComparison.Ordinal))
            throw new BundleStoreException($"{runId}: the run id does not match the manifest's files (expected {expected})");
    }

    static bool IsSha256Hex(string? s) =>
        s is { Length: 64 } && s.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    /// <summary>At most 80 characters of the name, control characters shown as '?', so a message stays one line.</summary>
    internal static string Printable(string? s)
    {
        if (s is null) return "(null)";
        var t = s.Length > 80 ? s[..80] + "..." : s;
        return new string(t.Select(c => char.IsControl(c) ? '?' : c).ToArray());
    }

    public static byte[] SerializeManifest(BundleManifest manifest) => JsonSerializer.SerializeToUtf8Bytes(manifest, ManifestJson);

    /// <summary>Reads a stored manifest; a broken one is a <see cref="BundleStoreException"/> naming <paramref name="where"/>.</summary>
    public static BundleManifest DeserializeManifest(ReadOnlySpan<byte> json, string where)
    {
        BundleManifest? m;
        try
        {
            m = JsonSerializer.Deserialize<BundleManifest>(json, ManifestJson);
        }
        catch (JsonException e)
        {
            throw new BundleStoreException($"{where}: not a valid manifest ({FirstLine(e.Message)})");
        }
        if (m is null || m.RunId is null || m.Files is null)
            throw new BundleStoreException($"{where}: not a valid manifest (runId or files missing)");
        return m;
    }

    internal static string FirstLine(string s)
    {
        var i = s.IndexOfAny(['\r', '\n']);
        return i < 0 ? s : s[..i];
    }
}
