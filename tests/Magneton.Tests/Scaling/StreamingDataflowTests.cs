using System.Text;
using System.Text.Json;
using Magneton.Core.Bundles;
using Magneton.Core.Scaling;
using Magneton.Tests.Analysis;
using Xunit;

namespace Magneton.Tests.Scaling;

/// <summary>
/// dataflow.json is read in 1 MiB pieces; problems far into a large file must be reported exactly as the
/// whole-document reader reported them (same line and byte positions, same field paths).
/// </summary>
public sealed class StreamingDataflowTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "magneton-dataflow-" + Guid.NewGuid().ToString("N"));
    static readonly Lazy<byte[]> Large = new(MakeLarge);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    static byte[] MakeLarge()
    {
        var dir = Path.Combine(Path.GetTempPath(), "magneton-dataflow-src-" + Guid.NewGuid().ToString("N"));
        try
        {
            var scaled = BundleScaler.ScalePair(Samples.Bundle("llama-generate-null", "A"), Samples.Bundle("llama-generate-null", "B"),
                Path.Combine(dir, "A"), Path.Combine(dir, "B"), new ScaleOptions { TargetOperators = 6_000, PlantEvery = 0 });
            // Pretty-printed, so that line numbers count.
            using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(scaled.A.Directory, BundleFiles.Dataflow)));
            return JsonSerializer.SerializeToUtf8Bytes(doc.RootElement, new JsonSerializerOptions { WriteIndented = true });
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    string Write(byte[] bytes)
    {
        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, BundleFiles.Dataflow);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void LargeDocumentReadsAsTheWholeDocumentWould()
    {
        var bytes = Large.Value;
        Assert.True(bytes.Length > 4 << 20);
        var dataflow = DataflowReader.Read(Write(bytes));
        using var doc = JsonDocument.Parse(bytes);
        Assert.Equal(doc.RootElement.GetProperty("nodes").GetArrayLength(), dataflow.Nodes.Count);
        Assert.Equal(doc.RootElement.GetProperty("values").EnumerateObject().Count(), dataflow.Values.Count);
        var last = doc.RootElement.GetProperty("nodes")[dataflow.Nodes.Count - 1];
        Assert.Equal(last.GetProperty("op").GetString(), dataflow.Nodes[^1].Op);
        Assert.Equal(last.GetProperty("stack").EnumerateArray().Select(x => x.GetString()), dataflow.Nodes[^1].Stack);
    }

    [Fact]
    public void SyntaxErrorNearTheEndIsReportedAtItsLineAndByte()
    {
        var text = Encoding.UTF8.GetString(Large.Value);
        int at = text.LastIndexOf("\"kind\"", StringComparison.Ordinal);
        var broken = Encoding.UTF8.GetBytes(text[..at] + "\"kind\" \"activation\"," + text[(text.IndexOf('\n', at) + 1)..]);
        var expected = Expected(broken);
        var e = Assert.Throws<BundleException>(() => DataflowReader.Read(Write(broken)));
        Assert.Equal(expected, e.Message);
        Assert.Contains("malformed JSON", e.Message);
    }

    [Fact]
    public void FieldErrorFarIntoTheNodesNamesItsNode()
    {
        var text = Encoding.UTF8.GetString(Large.Value);
        int node = 5000;
        int at = -1;
        for (int i = 0; i <= node; i++) at = text.IndexOf("\"op\": ", at + 1, StringComparison.Ordinal);
        int end = text.IndexOf('\n', at);
        var broken = text[..at] + "\"op\": 5," + text[end..];
        var e = Assert.Throws<BundleException>(() => DataflowReader.Read(Write(Encoding.UTF8.GetBytes(broken))));
        Assert.Equal($"dataflow.json: nodes[{node}].op: expected a string, got a number", e.Message);
    }

    [Fact]
    public void FormatIsCheckedBeforeTheNodesWhereverItIsWritten()
    {
        var text = Encoding.UTF8.GetString(Large.Value);
        // A bad node early and a wrong format at the end: the format is reported, as before.
        int at = text.IndexOf("\"op\": ", StringComparison.Ordinal);
        text = text[..at] + "\"op\": 5," + text[(text.IndexOf('\n', at))..];
        text = text.Replace("\"format\": \"magneton-capture/1\"", "\"format\": \"magneton-capture/0\"");
        var e = Assert.Throws<BundleException>(() => DataflowReader.Read(Write(Encoding.UTF8.GetBytes(text))));
        Assert.StartsWith("dataflow.json: format: unknown format \"magneton-capture/0\"", e.Message);
    }

    static string Expected(byte[] bytes)
    {
        try
        {
            using var _ = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            return BundleErrors.From(BundleFiles.Dataflow, ex).Message;
        }
        throw new InvalidOperationException("the document parsed");
    }
}
