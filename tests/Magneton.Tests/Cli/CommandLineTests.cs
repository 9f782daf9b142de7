using System.Text.Json;
using Magneton.Tests.GpuWorker;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Cli;

/// <summary>
/// The command definitions on System.CommandLine: help per command, --opt=value and --opt value alike, suggestions
/// for typos, completions, and bad command lines as one line with exit code 2.
/// </summary>
[Collection("CLI")]
public sealed class CommandLineTests
{
    static Task<CliResult> Run(params string[] args) => CliRunner.Run(args);

    static readonly string[] Commands =
        ["compare", "campaign", "audit", "audits", "campaigns", "export", "inspect", "runs", "silo", "capture", "gpus", "power", "worker", "submit", "workers", "bench"];

    [Fact]
    public async Task Compare_help_lists_compare_options_only()
    {
        var r = await Run("compare", "--help");
        Assert.Equal(0, r.Code);
        Assert.Equal("", r.Err);
        Assert.Contains("magneton compare <bundleA> <bundleB> [options]", r.Out);
        foreach (var option in new[] { "--threshold", "--json", "--html", "--fail-on-waste", "--step", "--rank", "--quiet", "--cluster", "--help" })
            Assert.Contains(option, r.Out);
        Assert.Contains("[default: 0.1]", r.Out);
        // Nothing of the other commands (the global usage has them all).
        foreach (var other in new[] { "--baseline", "--operators", "--sample", "--system", "--silo-port", "--report", "magneton campaign", "magneton power" })
            Assert.DoesNotContain(other, r.Out);
    }

    [Fact]
    public async Task Every_command_has_its_own_help()
    {
        var overview = (await Run("--help")).Out;
        foreach (var command in Commands)
        {
            var r = await Run(command, "--help");
            Assert.True(r.Code == 0, $"{command} --help: exit {r.Code}: {r.Err}");
            Assert.Contains($"magneton {command}", r.Out);
            Assert.NotEqual(overview, r.Out);
            Assert.Equal(r.Out, (await Run(command, "-h")).Out);
            Assert.Equal(r.Out, (await Run("help", command)).Out);
        }
        Assert.Contains("--baseline <bundle>", (await Run("campaign", "--help")).Out);
        Assert.Contains("--sample <seconds>", (await Run("power", "--help")).Out);
        Assert.Contains("--iterations <n>", (await Run("submit", "--help")).Out);
    }

    [Fact]
    public async Task The_tls_options_are_in_the_help_of_every_command_of_a_cluster_and_only_there()
    {
        foreach (var command in new[] { "silo", "worker", "compare", "campaign", "audit", "runs", "submit", "workers", "capture" })
        {
            var help = (await Run(command, "--help")).Out;
            foreach (var option in new[] { "--tls-cert <pem>", "--tls-key <pem>", "--tls-ca <pem>" })
                Assert.True(help.Contains(option), $"{command} --help lacks {option}");
        }
        foreach (var command in new[] { "inspect", "export", "power", "gpus" })
            Assert.DoesNotContain("--tls-cert", (await Run(command, "--help")).Out);
        // Half a set is one line, exit 2, before anything connects.
        CliRunner.AssertOneLineError(await Run("runs", "--cluster", "127.0.0.1:1", "--tls-cert=a.pem"), "TLS needs all three of --tls-cert, --tls-key and --tls-ca");
    }

    [Fact]
    public async Task Campaign_takes_threshold_with_an_equals_sign()
    {
        var r = await Run("campaign", "--baseline=" + TestRepo.GeluB, TestRepo.GeluA, "--threshold=0.2", "--json=-", "--quiet");
        Assert.True(r.Code == 0, $"exit {r.Code}: {r.Err}");
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal(0.2, doc.RootElement.GetProperty("threshold").GetDouble());
        Assert.Equal("hf-gpt2-gelu_new", Assert.Single(doc.RootElement.GetProperty("versions").EnumerateArray()).GetProperty("run").GetProperty("system").GetString());
    }

    [Theory]
    [InlineData("--sample=abc", "--out=x.csv", "--sample: 'abc'")]
    [InlineData("--sample", "abc", "--out", "x.csv", "--sample: 'abc'")]
    [InlineData("--sample=1", "--out=x.csv", "--interval-ms=NaN", "--interval-ms: 'NaN'")]
    [InlineData("--sample=1", "needs --out")]
    public async Task Power_sample_takes_either_form(params string[] argsAndMessage)
    {
        var r = await Run(["power", .. argsAndMessage[..^1]]);
        CliRunner.AssertOneLineError(r, argsAndMessage[^1]);
    }

    [NoNvmlFact]
    public async Task Power_sample_with_an_equals_sign_is_accepted_and_reaches_NVML()
    {
        var output = Path.Combine(Path.GetTempPath(), "magneton-power-" + Guid.NewGuid().ToString("N") + ".csv");
        var r = await Run("power", "--sample=1", "--out=" + output);
        CliRunner.AssertOneLineError(r, "NVML not available");
        Assert.False(File.Exists(output));
    }

    [Fact]
    public async Task Compare_json_before_the_bundles_says_what_json_took()
    {
        var r = await Run("compare", "--json", TestRepo.GeluA, TestRepo.GeluB);
        CliRunner.AssertOneLineError(r, $"--json took '{TestRepo.GeluA}' as its value");
        Assert.Contains("compare needs <bundleA> <bundleB>", r.Err);
        Assert.DoesNotContain("second bundle", r.Err);
    }

    [Theory]
    [InlineData(new[] { "compare", "a", "b", "--thresold", "0.2" }, "unknown option '--thresold' for compare; did you mean '--threshold'?")]
    [InlineData(new[] { "compare", "a", "b", "--fail-on-wast" }, "did you mean '--fail-on-waste'?")]
    [InlineData(new[] { "compre", "a", "b" }, "unknown command 'compre'; did you mean 'compare'?")]
    [InlineData(new[] { "wokers", "--cluster", "127.0.0.1:1" }, "did you mean 'workers'?")]
    [InlineData(new[] { "silo", "--gateway-prt", "1" }, "did you mean '--gateway-port'?")]
    [InlineData(new[] { "help", "campain" }, "did you mean 'campaign'?")]
    public async Task A_typo_gets_a_suggestion(string[] args, string message) =>
        CliRunner.AssertOneLineError(await Run(args), message);

    [Theory]
    [InlineData(new[] { "compare", "a", "b", "--threshold" }, "option --threshold needs a value")]
    [InlineData(new[] { "compare", "a", "b", "--threshold", "0.2", "--threshold", "0.3" }, "option --threshold is given more than once")]
    [InlineData(new[] { "campaign", "a" }, "campaign needs --baseline <bundle>")]
    [InlineData(new[] { "campaign", "--baseline", "a" }, "campaign needs <bundle>...")]
    [InlineData(new[] { "compare", "a", "b", "--threshold=abc" }, "--threshold: 'abc' is not a number")]
    [InlineData(new[] { "inspect", "x", "--top=0" }, "--top: must be 1 or more")]
    [InlineData(new[] { "export", "x", "--out=t.json", "--side=c" }, "--side: 'c' is not a or b")]
    [InlineData(new[] { "capture", "--system", "s", "--out", "d", "script.py" }, "the command to capture goes after --")]
    [InlineData(new[] { "capture", "--system=s", "--out=d" }, "capture needs the command after --")]
    [InlineData(new[] { "bench", "--operators=0" }, "--operators: '0' is not a positive count")]
    [InlineData(new[] { "bench", "--operators", "1k", "--mode=fast" }, "--mode: 'fast' is not auto, decode or job")]
    [InlineData(new[] { "runs" }, "runs needs --cluster <host:port>")]
    [InlineData(new[] { "runs", "--cluster=nohostport" }, "--cluster: 'nohostport' is not host:port")]
    [InlineData(new[] { "gpus", "extra" }, "unexpected argument 'extra': gpus takes only options")]
    public async Task Bad_command_lines_name_what_is_wrong(string[] args, string message) =>
        CliRunner.AssertOneLineError(await Run(args), message);

    [Fact]
    public async Task The_tail_after_double_dash_is_the_scripts_own()
    {
        // Options after -- belong to the script: --system there is not capture's, and -m is not an unknown option.
        // The command is checked (a Python command) before NVML is opened, so this ends at the missing driver or
        // at the probe, never at the command line.
        var r = await Run("submit", "--cluster=127.0.0.1:1", "--system=s", "--", "python3", "-m", "job", "--system", "y", "--frobnicate");
        CliRunner.AssertOneLineError(r, "--cluster 127.0.0.1:1: no Magneton cluster answered");
    }

    [Fact]
    public async Task Suggest_directive_completes_options()
    {
        var r = await Run("[suggest:12]", "compare --th");
        Assert.Equal(0, r.Code);
        Assert.Equal("--threshold", r.Out.Trim());
        var modes = await Run("[suggest:22]", "magneton bench --mode ");
        Assert.Equal(["auto", "decode", "job"], modes.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        var commands = await Run("[suggest]", "work");
        Assert.Contains("worker", commands.Out.Split('\n', StringSplitOptions.TrimEntries));
        Assert.Contains("workers", commands.Out.Split('\n', StringSplitOptions.TrimEntries));
    }

    [Fact]
    public async Task Version_and_help_commands()
    {
        foreach (var args in new[] { new[] { "--version" }, ["version"] })
        {
            var r = await Run(args);
            Assert.Equal(0, r.Code);
            Assert.Matches(@"^magneton \d+\.\d+\.\d+\n$", r.Out);
        }
        var help = await Run("help");
        Assert.Equal(0, help.Code);
        Assert.Equal((await Run("--help")).Out, help.Out);
    }
}
