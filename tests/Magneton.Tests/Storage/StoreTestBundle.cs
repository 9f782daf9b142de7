using System.Security.Cryptography;
using Magneton.Grains;
using Magneton.Grains.Storage;
using Magneton.Tests.Bundles;

namespace Magneton.Tests.Storage;

/// <summary>A real sample bundle as an upload: its files' bytes and the manifest a client would compute.</summary>
internal sealed class StoreTestBundle
{
    public const string SampleRelative = "gpt2-gelu/A-hf-gpt2-gelu_new";

    public string SourceDir { get; }
    public IReadOnlyDictionary<string, byte[]> Files { get; }
    public BundleManifest Manifest { get; }
    public string RunId => Manifest.RunId;

    StoreTestBundle(string dir, Dictionary<string, byte[]> files, string origin)
    {
        SourceDir = dir;
        Files = files;
        var entries = files.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new BundleFileEntry(kv.Key, kv.Value.LongLength, Convert.ToHexStringLower(SHA256.HashData(kv.Value))))
            .ToArray();
        Manifest = new BundleManifest(BundleManifest.RunIdOf(entries), "hf-gpt2-gelu_new", entries, origin,
            new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));
    }

    /// <summary>The sample A bundle of the GELU pair (2.4 MB in 8 files).</summary>
    public static StoreTestBundle Sample(string origin = "test") => FromDirectory(SampleBundles.Dir(SampleRelative), origin);

    public static StoreTestBundle FromDirectory(string dir, string origin = "test") =>
        new(dir, Directory.GetFiles(dir).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes, StringComparer.Ordinal), origin);

    /// <summary>A small made-up bundle (distinct run id per <paramref name="seed"/>).</summary>
    public static StoreTestBundle Small(int seed, params (string Name, int Length)[] files)
    {
        var rng = new Random(seed);
        var dict = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (name, length) in files.Length == 0 ? [("a.json", 1000), ("b.csv", 3000)] : files)
        {
            var bytes = new byte[length];
            rng.NextBytes(bytes);
            dict[name] = bytes;
        }
        return new StoreTestBundle("(generated)", dict, "test");
    }

    /// <summary>(file, offset, length) of every chunk, files in name order.</summary>
    public IEnumerable<(string File, long Offset, int Length)> Chunks(int chunkSize)
    {
        foreach (var (name, bytes) in Files.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            for (long off = 0; off < bytes.Length; off += chunkSize)
                yield return (name, off, (int)Math.Min(chunkSize, bytes.Length - off));
    }

    public ReadOnlyMemory<byte> Slice(string file, long offset, int length) => Files[file].AsMemory((int)offset, length);

    public async Task UploadAsync(IBundleStore store, int chunkSize = 1 << 20, bool retryEachChunk = false)
    {
        foreach (var (file, offset, length) in Chunks(chunkSize))
        {
            await store.WriteChunkAsync(RunId, file, offset, Slice(file, offset, length));
            if (retryEachChunk) await store.WriteChunkAsync(RunId, file, offset, Slice(file, offset, length));
        }
    }

    /// <summary>Asserts that <paramref name="dir"/> holds every file byte for byte (and nothing else but the manifest).</summary>
    public void AssertIdentical(string dir)
    {
        foreach (var (name, bytes) in Files)
        {
            var path = Path.Combine(dir, name);
            Xunit.Assert.True(File.Exists(path), $"{name} missing from {dir}");
            Xunit.Assert.True(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(path)), $"{name} differs in {dir}");
        }
        var extra = Directory.GetFiles(dir).Select(Path.GetFileName)
            .Where(n => n != BundleStoreNames.ManifestFile && !Files.ContainsKey(n!)).ToArray();
        Xunit.Assert.Empty(extra);
    }
}
