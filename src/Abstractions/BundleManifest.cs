using System.Security.Cryptography;
using System.Text;

namespace Magneton.Grains;

/// <summary>One file of a stored bundle: its name in the bundle directory, length and SHA-256 (lowercase hex).</summary>
[GenerateSerializer, Alias("Magneton.BundleFileEntry")]
public sealed record BundleFileEntry(
    [property: Id(0)] string Name,
    [property: Id(1)] long Length,
    [property: Id(2)] string Sha256);

/// <summary>
/// What identifies a stored bundle. The run id is derived from the files' names and hashes
/// (<see cref="RunIdOf"/>), so the same capture uploaded twice, from anywhere, is one run.
/// </summary>
[GenerateSerializer, Alias("Magneton.BundleManifest")]
public sealed record BundleManifest(
    [property: Id(0)] string RunId,
    [property: Id(1)] string System,
    [property: Id(2)] BundleFileEntry[] Files,
    [property: Id(3)] string Origin,
    [property: Id(4)] DateTimeOffset StoredAt)
{
    public long TotalBytes => Files.Sum(f => f.Length);

    /// <summary>"run-" and 16 hex digits of a SHA-256 over the sorted (name, hash) pairs.</summary>
    public static string RunIdOf(IEnumerable<BundleFileEntry> files)
    {
        var text = new StringBuilder();
        foreach (var f in files.OrderBy(f => f.Name, StringComparer.Ordinal))
            text.Append(f.Name).Append('\0').Append(f.Sha256).Append('\n');
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString()));
        return "run-" + Convert.ToHexStringLower(hash, 0, 8);
    }
}
