using Magneton.Core;
using Magneton.Core.Bundles;
using Magneton.Core.Runs;
using Magneton.Grains;

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

    /// <summary>
    /// The run of a bundle argument, built as the embedded silo builds a local bundle (named by its full path, so the
    /// report is the same), for <see cref="Magneton.Silo.EmbeddedSilo.Keep"/>: the silo then does not read it again.
    /// </summary>
    public static Run Ingest(string argument)
    {
        var bundle = Read(argument) with { Path = RunIds.NormalizePath(argument) };
        try
        {
            return Pipeline.Ingest(bundle);
        }
        catch (BundleException e)
        {
            throw new BundleException(Named(argument, e.File), e.Field, e.Problem);
        }
    }

    /// <summary>Reads every bundle (in parallel: the traces dominate), failing on the first broken one in argument order.</summary>
    public static Task CheckAllAsync(IReadOnlyList<string> arguments, CancellationToken ct) => AllAsync(arguments, Read, ct);

    /// <summary>Builds every bundle's run (in parallel), failing on the first broken one in argument order.</summary>
    public static Task<IReadOnlyList<Run>> IngestAllAsync(IReadOnlyList<string> arguments, CancellationToken ct) => AllAsync(arguments, Ingest, ct);

    static async Task<IReadOnlyList<T>> AllAsync<T>(IReadOnlyList<string> arguments, Func<string, T> read, CancellationToken ct)
    {
        var reads = arguments.Select(a => Task.Run(() => read(a), ct)).ToList();
        await ((Task)Task.WhenAll(reads)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var results = new List<T>(reads.Count);
        foreach (var r in reads) results.Add(await r.ConfigureAwait(false)); // the first failure in argument order
        return results;
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
