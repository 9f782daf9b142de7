using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;

namespace Magneton.Tests.Bundles;

/// <summary>A private, writable copy of a sample bundle (or an empty directory) for corruption tests.</summary>
internal sealed class TempBundle : IDisposable
{
    public string Path { get; }

    public TempBundle(string? sample = null)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "magneton-bundle-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
        if (sample is null) return;
        foreach (var f in Directory.GetFiles(SampleBundles.Dir(sample)))
            System.IO.File.Copy(f, File(System.IO.Path.GetFileName(f)));
    }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void EditJson(string name, Action<JsonNode> edit)
    {
        var root = JsonNode.Parse(System.IO.File.ReadAllText(File(name)))!;
        edit(root);
        System.IO.File.WriteAllText(File(name), root.ToJsonString());
    }

    public string ReadTrace()
    {
        using var gz = new GZipStream(System.IO.File.OpenRead(File("kineto.json.gz")), CompressionMode.Decompress);
        using var reader = new StreamReader(gz, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    public void WriteTrace(string json) => WriteGzip(File("kineto.json.gz"), json);

    public static void WriteGzip(string path, string json)
    {
        using var file = System.IO.File.Create(path);
        using var gz = new GZipStream(file, CompressionLevel.Fastest);
        gz.Write(Encoding.UTF8.GetBytes(json));
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
