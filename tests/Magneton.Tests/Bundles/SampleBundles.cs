using System.Collections.Concurrent;
using Magneton.Core.Bundles;

namespace Magneton.Tests.Bundles;

/// <summary>Locates the real H100 captures under samples/ and reads each at most once per test run.</summary>
internal static class SampleBundles
{
    private static readonly ConcurrentDictionary<string, Lazy<Bundle>> Cache = new();

    public static string Root { get; } = FindRoot();

    public static string Dir(string relative) => Path.Combine(Root, relative);

    public static Bundle Get(string relative) =>
        Cache.GetOrAdd(relative, r => new Lazy<Bundle>(() => BundleReader.Read(Dir(r)))).Value;

    public static IEnumerable<string> All() =>
        Directory.GetDirectories(Root).SelectMany(Directory.GetDirectories)
            .Select(d => Path.GetRelativePath(Root, d)).Order(StringComparer.Ordinal);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "samples");
            if (Directory.Exists(Path.Combine(candidate, "gpt2-gelu"))) return candidate;
        }
        throw new DirectoryNotFoundException("samples/ with the capture pairs not found above " + AppContext.BaseDirectory);
    }
}
