namespace Magneton.Grains;

/// <summary>
/// The local directories a silo with a bundle store may still read bundles from: roots its operator named
/// (<c>magneton silo --allow-path DIR</c>, local development on one machine). A silo with a store reads
/// nothing else, so a client cannot have it read its own host's files by naming a path; a silo without a store
/// (the embedded CLI) reads the local paths it is given.
/// </summary>
public sealed class LocalBundleRoots(IEnumerable<string> roots)
{
    readonly string[] _roots = [.. roots.Select(RunIds.NormalizePath)];

    public IReadOnlyList<string> Roots => _roots;

    /// <summary>True when the bundle directory (symbolic links followed) lies under one of the roots.</summary>
    public bool Allows(string bundlePath)
    {
        var path = RunIds.NormalizePath(bundlePath);
        try
        {
            if (new DirectoryInfo(path).ResolveLinkTarget(returnFinalTarget: true) is { } target) path = RunIds.NormalizePath(target.FullName);
        }
        catch (IOException)
        {
            return false;
        }
        return _roots.Any(root => path == root || path.StartsWith(root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar, StringComparison.Ordinal));
    }
}
