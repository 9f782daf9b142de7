using Magneton.Client;
using Magneton.Grains;
using Magneton.Tests.Grains;
using Spectre.Console;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Reports;

/// <summary><c>--html</c> of compare, campaign and audit, and the progress display, run in-process.</summary>
[Collection("CLI")]
public sealed class ReportCliTests
{
    static Task<CliResult> Run(params string[] args) => CliRunner.Run(args);

    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "magneton-htmlcli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    [Fact]
    public async Task Compare_html_with_json_to_stdout_and_the_summary_on_stderr()
    {
        var dir = TempDir();
        try
        {
            var html = Path.Combine(dir, "r.html");
            var r = await Run("compare", TestRepo.GeluA, TestRepo.GeluB, "--html", html, "--json", "-");
            Assert.Equal(0, r.Code);
            Assert.StartsWith("{", r.Out.TrimStart()); // stdout carries the JSON only
            Assert.Contains("html: " + html, r.Err);
            var page = await File.ReadAllTextAsync(html);
            Assert.Contains("power-timeline-svg", page); // local bundles: power.csv read
            Assert.Contains("transformer.h.*.mlp.act", page);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("compare")]
    [InlineData("campaign")]
    [InlineData("audit")]
    public async Task Html_into_a_missing_directory_is_bad_input_before_any_work(string command)
    {
        var missing = Path.Combine(Path.GetTempPath(), "magneton-no-such-dir-" + Guid.NewGuid().ToString("N"), "r.html");
        string[] args = command switch
        {
            "compare" => ["compare", TestRepo.GeluA, TestRepo.GeluB, "--html", missing],
            "campaign" => ["campaign", "--baseline", TestRepo.GeluA, TestRepo.GeluB, "--html", missing],
            _ => ["audit", TestRepo.GeluA, TestRepo.GeluA, "--html", missing],
        };
        var r = await Run(args);
        Assert.Equal(2, r.Code);
        Assert.Equal("", r.Out);
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("does not exist", r.Err);
    }

    [Fact]
    public async Task Campaign_and_audit_write_their_pages()
    {
        var dir = TempDir();
        try
        {
            var campaign = Path.Combine(dir, "campaign.html");
            var c = await Run("campaign", "--baseline", TestRepo.GeluB, TestRepo.GeluA, "--html", campaign, "--quiet");
            Assert.True(c.Code == 0, c.Err);
            var page = await File.ReadAllTextAsync(campaign);
            Assert.Contains("campaign-chart-svg", page);
            Assert.Contains("1 of 1 version(s) waste energy against the baseline", page);
            Assert.Contains("transformer.h.*.mlp.act", page);

            var audit = Path.Combine(dir, "audit.html");
            var a = await Run("audit", TestRepo.GeluA, TestRepo.GeluA, "--html", audit, "--quiet");
            Assert.True(a.Code == 0, a.Err);
            var auditPage = await File.ReadAllTextAsync(audit);
            Assert.Contains("audit-chart-svg", auditPage);
            // Two nodes: amber, "cannot name an outlier", never a green "No outlier node".
            Assert.Contains("class=\"verdict trade\"", auditPage);
            Assert.Contains("Cannot name an outlier: 2 nodes, an outlier needs at least 3 to measure against", auditPage);
            Assert.DoesNotContain("No outlier node", auditPage);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void Progress_is_plain_unless_stderr_is_the_terminal()
    {
        Assert.False(ProgressDisplay.IsInteractive(new StringWriter(), quiet: false));
        Assert.False(ProgressDisplay.IsInteractive(Console.Error, quiet: true));
    }

    [Fact]
    public async Task Plain_progress_writes_the_log_lines_as_they_are()
    {
        var log = new StringWriter();
        int result = await ProgressDisplay.RunAsync(interactive: false, log, "campaign", async p =>
        {
            await p.Log.WriteLineAsync("[1/2] version 1 done");
            p.Campaign(new CampaignStatus("c", 2, 1, 0, 1, false, 0, 0, 2, "silo", []));
            return 7;
        });
        Assert.Equal(7, result);
        Assert.Equal("[1/2] version 1 done" + Environment.NewLine, log.ToString());
    }

    [Fact]
    public async Task Live_progress_renders_a_bar_and_the_log_lines_through_spectre()
    {
        var output = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.Yes,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.Yes,
        });
        var plain = new StringWriter();
        int result = await ProgressDisplay.RunAsync(interactive: true, plain, "campaign", async p =>
        {
            p.Campaign(new CampaignStatus("c", 4, 0, 0, 2, false, 0, 0, 2, "silo", []));
            await p.Log.WriteLineAsync("version 1 [done]");
            p.Campaign(new CampaignStatus("c", 4, 3, 1, 0, true, 0, 0, 4, "silo", []));
            return 3;
        }, console);
        Assert.Equal(3, result);
        Assert.Equal("", plain.ToString());
        var text = output.ToString();
        Assert.Contains("version 1 [done]", text);
        Assert.Contains("campaign versions 4/4", text);
        Assert.Contains("100%", text);

        await ProgressDisplay.RunAsync(interactive: true, plain, "compare", p =>
        {
            p.Job(new JobStatus("j", JobPhase.Matching, 10, 4, 0, 0, null, 0, 0, 4, "silo"));
            p.Job(new JobStatus("j", JobPhase.Done, 10, 10, 1, 1, null, 0, 0, 10, "silo"));
            return Task.FromResult(0);
        }, console);
        Assert.Contains("compare done: segments 10/10, findings 1/1", output.ToString());
    }
}
