using System.Text.RegularExpressions;
using Magneton.Tests.Grains;
using Xunit;

namespace Magneton.Tests.Docs;

/// <summary>The documentation a clone has must be complete: every relative link resolves inside the repository.</summary>
public sealed partial class DocLinksTests
{
    [GeneratedRegex(@"\]\(([^)#\s]+)(#[^)]*)?\)")]
    private static partial Regex Link();

    /// <summary>A path that climbs up ("../x", "../../x"), in a link or in plain text.</summary>
    [GeneratedRegex(@"(?:\.\./)+[^\s)`'""<>]*")]
    private static partial Regex ParentPath();

    public static TheoryData<string> Documents()
    {
        var data = new TheoryData<string>();
        foreach (var f in new[] { "README.md", "samples/README.md", "k8s/README.md", "src/GpuWorker/probe/README.md", "tests/data/hta/README.md" }
                     .Concat(Directory.GetFiles(Path.Combine(TestRepo.Root, "docs"), "*.md").Select(p => Path.GetRelativePath(TestRepo.Root, p))))
            data.Add(f.Replace('\\', '/'));
        return data;
    }

    [Theory]
    [MemberData(nameof(Documents))]
    public void Relative_links_resolve_inside_the_repository_and_nothing_points_beside_it(string document)
    {
        var path = Path.Combine(TestRepo.Root, document);
        var text = File.ReadAllText(path);
        var dir = Path.GetDirectoryName(path)!;
        // Paths in the prose too (links are checked below): a clone has nothing beside it, so a document may not send
        // its reader there. Prose names paths from the repository's root or from the document's folder: both must stay in.
        foreach (var up in ParentPath().Matches(Link().Replace(text, "")).Select(m => m.Value))
            Assert.True(Inside(Path.GetFullPath(Path.Combine(TestRepo.Root, up))) && Inside(Path.GetFullPath(Path.Combine(dir, up))),
                $"{document}: {up} points outside the repository");
        var links = Link().Matches(text).Select(m => m.Groups[1].Value)
            .Where(l => !l.Contains("://", StringComparison.Ordinal) && !l.StartsWith("mailto:", StringComparison.Ordinal)).ToList();
        foreach (var link in links)
        {
            var target = Path.GetFullPath(Path.Combine(dir, link));
            Assert.True(Inside(target), $"{document}: {link} leaves the repository");
            Assert.True(File.Exists(target) || Directory.Exists(target), $"{document}: {link} does not exist");
        }
    }

    static bool Inside(string fullPath) => fullPath.StartsWith(TestRepo.Root + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    [Fact]
    public void The_readme_links_the_report_schema_and_the_capture_format()
    {
        var text = File.ReadAllText(Path.Combine(TestRepo.Root, "README.md"));
        Assert.Contains("](docs/report-schema.md)", text);
        Assert.Contains("](docs/capture-format.md)", text);
    }
}
