using System.Text.RegularExpressions;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Docs;

/// <summary>The README shows what the commands print: its quick-start compare is run and its output block compared.</summary>
public sealed partial class ReadmeOutputTests
{
    static string Readme => File.ReadAllText(Path.Combine(TestRepo.Root, "README.md")).ReplaceLineEndings("\n");

    /// <summary>The first fenced block after a heading.</summary>
    static string BlockAfter(string heading)
    {
        var text = Readme;
        int at = text.IndexOf("\n" + heading + "\n", StringComparison.Ordinal);
        Assert.True(at >= 0, $"README.md has no heading '{heading}'");
        int open = text.IndexOf("\n```\n", at, StringComparison.Ordinal) + 5;
        int close = text.IndexOf("\n```\n", open - 1, StringComparison.Ordinal);
        return text[open..close];
    }

    [GeneratedRegex(@"^dotnet run --project src/Client -c Release -- (compare .*)$", RegexOptions.Multiline)]
    private static partial Regex QuickStartCompare();

    [GeneratedRegex(@"(?<=^Matching: .*, )\d+ ms$", RegexOptions.Multiline)]
    private static partial Regex MatchingTime();

    [Fact]
    public async Task The_output_under_how_to_read_a_report_is_what_the_quick_start_compare_prints()
    {
        var command = QuickStartCompare().Match(BlockAfter("## Quick start"));
        Assert.True(command.Success, "the quick start has no `dotnet run ... -- compare` line");
        // The README's paths are relative to the repository root.
        var args = command.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Select(a => a.StartsWith("samples/", StringComparison.Ordinal) ? Path.Combine(TestRepo.Root, a) : a).ToArray();

        var r = await CliRunner.Run(args);
        Assert.True(r.Code == 0, r.Err);
        // The matching time is the one number the README says varies.
        string Normal(string s) => MatchingTime().Replace(s.ReplaceLineEndings("\n").TrimEnd('\n'), "N ms");
        Assert.Equal(Normal(BlockAfter("## How to read a report")), Normal(r.Out));
    }
}
