using System.Security.Cryptography;
using System.Text;

namespace Magneton.Grains;

/// <summary>Stable run ids: the same bundle directory always maps to the same run grain.</summary>
public static class RunIds
{
    /// <summary>Full path without trailing separators, so "dir" and "dir/" are one bundle.</summary>
    public static string NormalizePath(string bundlePath)
    {
        var full = Path.GetFullPath(bundlePath);
        var root = Path.GetPathRoot(full) ?? "";
        return full.Length > root.Length ? full.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar) : full;
    }

    /// <summary>"run-" and 16 hex digits of the SHA-256 of the normalized full path.</summary>
    public static string FromPath(string bundlePath)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(NormalizePath(bundlePath)));
        return "run-" + Convert.ToHexStringLower(hash, 0, 8);
    }

    /// <summary>"run:4d68..." for the run id "run-4d68...": how a user types it, so every message prints it that way.</summary>
    public static string Typed(string runId) =>
        "run:" + (runId.StartsWith("run-", StringComparison.Ordinal) ? runId["run-".Length..] : runId);
}
