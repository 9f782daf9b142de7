using Magneton.Core.Bundles;

namespace Magneton.Client;

/// <summary>
/// A bundle argument read here, in the client, before any silo or connection: its errors name the file under the
/// bundle path as the user typed it (<c>B/kineto.json.gz: gzip: ...</c>), so a broken side is told from the other.
/// </summary>
public static class LocalBundle
{
    public static Bundle Read(string argument)
    {
        try
        {
            return BundleReader.Read(argument);
        }
        catch (BundleException e)
        {
            throw new BundleException(Named(argument, e.File), e.Field, e.Problem);
        }
    }

    /// <summary>Reads every bundle (in parallel: the traces dominate), failing on the first broken one in argument order.</summary>
    public static async Task CheckAllAsync(IReadOnlyList<string> arguments, CancellationToken ct)
    {
        var reads = arguments.Select(a => Task.Run(() => Read(a), ct)).ToList();
        await ((Task)Task.WhenAll(reads)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        foreach (var r in reads) await r.ConfigureAwait(false); // the first failure in argument order
    }

    /// <summary>A reader's file name (bare, or a full path inside the bundle) as a path under <paramref name="argument"/>.</summary>
    static string Named(string argument, string file)
    {
        if (!Path.IsPathRooted(file)) return file.Contains(Path.DirectorySeparatorChar) ? file : Path.Combine(argument, file);
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(argument));
        if (file == root) return argument;
        return file.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal)
            ? Path.Combine(argument, file[(root.Length + 1)..])
            : file;
    }
}
