namespace Magneton.Tests.Grains;

/// <summary>Paths of the repository's samples, found by walking up to Magneton.sln.</summary>
public static class TestRepo
{
    public static string Root { get; } = FindRoot();

    static string FindRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Magneton.sln"))) return d.FullName;
        throw new InvalidOperationException("Magneton.sln not found above " + AppContext.BaseDirectory);
    }

    public static string GeluA => Path.Combine(Root, "samples", "gpt2-gelu", "A-hf-gpt2-gelu_new");
    public static string GeluB => Path.Combine(Root, "samples", "gpt2-gelu", "B-hf-gpt2-gelu_pytorch_tanh");

    /// <summary>The bundle directory of a sample pair's side ("A" or "B").</summary>
    public static string Bundle(string pair, string role) =>
        Directory.GetDirectories(Path.Combine(Root, "samples", pair)).Single(d => Path.GetFileName(d).StartsWith(role + "-"));

    /// <summary>A fresh temp copy of a bundle directory (delete it with <see cref="TempBundle.Dispose"/>).</summary>
    public static TempBundle CopyBundle(string bundle)
    {
        var dir = Path.Combine(Path.GetTempPath(), "magneton-tests", Guid.NewGuid().ToString("N"), Path.GetFileName(bundle));
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(bundle)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return new TempBundle(dir);
    }
}

public sealed class TempBundle(string path) : IDisposable
{
    public string Path { get; } = path;
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Cuts a file to the given fraction of its length (a truncated download or copy).</summary>
    public void Truncate(string name, double keep = 0.5)
    {
        var f = File(name);
        using var s = new FileStream(f, FileMode.Open, FileAccess.ReadWrite);
        s.SetLength((long)(s.Length * keep));
    }

    public void Dispose()
    {
        try { Directory.Delete(System.IO.Path.GetDirectoryName(Path)!, recursive: true); } catch (IOException) { }
    }
}
