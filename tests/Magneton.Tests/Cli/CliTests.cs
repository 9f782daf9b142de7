using System.Text.Json;
using Magneton.Client;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Cli;

/// <summary>The magneton CLI run in-process (its embedded silo included), with captured stdout and stderr.</summary>
[Collection("CLI")]
public sealed class CliTests
{
    static Task<CliResult> Run(params string[] args) => CliRunner.Run(args);

    static void AssertOneLineError(CliResult r, string mustContain) => CliRunner.AssertOneLineError(r, mustContain);

    [Fact]
    public async Task Missing_bundle_directory_is_bad_input()
    {
        var missing = Path.Combine(Path.GetTempPath(), "magneton-missing-" + Guid.NewGuid().ToString("N"));
        AssertOneLineError(await Run("compare", missing, TestRepo.GeluB), Path.GetFileName(missing));
    }

    [Fact]
    public async Task Truncated_trace_is_bad_input_naming_the_file()
    {
        using var bad = TestRepo.CopyBundle(TestRepo.GeluA);
        bad.Truncate("kineto.json.gz");
        AssertOneLineError(await Run("compare", bad.Path, TestRepo.GeluB), "kineto.json.gz");
    }

    [Fact]
    public async Task A_broken_bundle_is_named_by_the_path_as_typed_on_either_side()
    {
        using var bad = TestRepo.CopyBundle(TestRepo.GeluB);
        bad.Truncate("kineto.json.gz");
        var typed = Path.GetRelativePath(Environment.CurrentDirectory, bad.Path);
        var asB = await Run("compare", TestRepo.GeluA, typed);
        AssertOneLineError(asB, $"magneton: error: {Path.Combine(typed, "kineto.json.gz")}: gzip: ");
        Assert.DoesNotContain(TestRepo.GeluA, asB.Err);
        AssertOneLineError(await Run("compare", typed, TestRepo.GeluA), Path.Combine(typed, "kineto.json.gz") + ": gzip: ");
        AssertOneLineError(await Run("audit", TestRepo.GeluA, typed, "--quiet"), Path.Combine(typed, "kineto.json.gz") + ": gzip: ");
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("-0.1")]
    [InlineData("10.5")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    public async Task Bad_threshold_is_bad_input(string threshold)
    {
        AssertOneLineError(await Run("compare", TestRepo.GeluA, TestRepo.GeluB, "--threshold", threshold), "--threshold");
    }

    [Theory]
    [InlineData]
    [InlineData("compare")]
    [InlineData("compare", "only-one")]
    [InlineData("compare", "a", "b", "c")]
    [InlineData("compare", "a", "b", "--frobnicate")]
    [InlineData("compare", "a", "b", "--threshold")]
    [InlineData("frobnicate")]
    [InlineData("--frobnicate")]
    public async Task Bad_command_lines_are_bad_input(params string[] args)
    {
        var r = await Run(args);
        Assert.Equal(2, r.Code);
        Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("magneton: error: ", r.Err);
    }

    [Fact]
    public async Task Help_and_version()
    {
        foreach (var h in new[] { "--help", "help", "-h" })
        {
            var r = await Run(h);
            Assert.Equal(0, r.Code);
            Assert.Contains("magneton compare <bundleA> <bundleB>", r.Out);
            Assert.Contains("--fail-on-waste", r.Out);
        }
        var v = await Run("--version");
        Assert.Equal(0, v.Code);
        Assert.Matches(@"^magneton \d+\.\d+", v.Out);
    }

    [Fact]
    public async Task Json_to_stdout_is_the_report_and_nothing_else()
    {
        var r = await Run("compare", TestRepo.GeluA, TestRepo.GeluB, "--json", "-");
        Assert.True(r.Code == 0, r.Err);
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal("magneton.report/1", doc.RootElement.GetProperty("schema").GetString());
        Assert.Equal(JsonValueKind.Array, doc.RootElement.GetProperty("findings").ValueKind);
        Assert.True(doc.RootElement.GetProperty("matching").GetProperty("elapsed_ms").GetDouble() > 0);
        // The terminal summary went to stderr, and says where the energy numbers come from.
        Assert.Contains("VERDICT", r.Err);
        var sources = doc.RootElement.GetProperty("energy_model").GetProperty("sources").GetString();
        Assert.False(string.IsNullOrWhiteSpace(sources));
        Assert.Contains(sources!, r.Err);
    }

    [Fact]
    public async Task Json_file_and_quiet()
    {
        var dir = Directory.CreateTempSubdirectory("magneton-cli-");
        try
        {
            var file = Path.Combine(dir.FullName, "report.json");
            var r = await Run("compare", TestRepo.GeluA, TestRepo.GeluB, "--json", file, "--quiet", "--threshold", "0.2");
            Assert.True(r.Code == 0, r.Err);
            Assert.Equal("", r.Out);
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            Assert.Equal("magneton.report/1", doc.RootElement.GetProperty("schema").GetString());
            Assert.Equal(0.2, doc.RootElement.GetProperty("threshold").GetDouble());
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public async Task Fail_on_waste_exits_3_on_gpt2_gelu()
    {
        var r = await Run("compare", TestRepo.GeluA, TestRepo.GeluB, "--fail-on-waste");
        Assert.True(r.Code == 3, $"exit {r.Code}: {r.Err}");
        Assert.Contains("VERDICT", r.Out);
    }

    /// <summary>
    /// GPT-2 against ResNet-50: nothing is equivalent, so no waste claim; the report (written first) says why, and the
    /// command is bad input (exit 2, one line), never the --fail-on-waste 3.
    /// </summary>
    [Fact]
    public async Task Unrelated_models_are_not_comparable_exit_2_with_one_line_and_no_waste_claim()
    {
        var dir = Directory.CreateTempSubdirectory("magneton-cli-");
        try
        {
            var file = Path.Combine(dir.FullName, "report.json");
            var r = await Run("compare", TestRepo.GeluA, TestRepo.Bundle("resnet50-layout", "A"), "--fail-on-waste", "--json", file);
            Assert.True(r.Code == 2, $"exit {r.Code}: {r.Out} {r.Err}");
            var line = Assert.Single(r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("magneton: error:"));
            Assert.Contains("not comparable", line);
            Assert.DoesNotContain("WASTE", r.Out + r.Err);
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            Assert.Equal("not comparable", doc.RootElement.GetProperty("verdict").GetString());
            Assert.Equal(0, doc.RootElement.GetProperty("findings").GetArrayLength());
            Assert.False(doc.RootElement.GetProperty("comparability").GetProperty("comparable").GetBoolean());
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public async Task Campaign_reports_the_activation_finding_for_the_gelu_new_version()
    {
        var r = await Run("campaign", "--baseline", TestRepo.GeluB, TestRepo.GeluA, "--json", "-", "--quiet");
        Assert.True(r.Code == 0, $"exit {r.Code}: {r.Err}");
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal("magneton.campaign/1", root.GetProperty("schema").GetString());
        Assert.Equal("hf-gpt2-gelu_pytorch_tanh", root.GetProperty("baseline").GetProperty("system").GetString());
        var version = Assert.Single(root.GetProperty("versions").EnumerateArray());
        Assert.Equal("hf-gpt2-gelu_new", version.GetProperty("run").GetProperty("system").GetString());
        Assert.True(version.GetProperty("energy_ratio").GetDouble() > 1.0);
        var finding = Assert.Single(version.GetProperty("findings").EnumerateArray(), f => f.GetProperty("verdict").GetString() == "waste");
        Assert.Equal("b", finding.GetProperty("wasteful").GetString());
        Assert.Equal("transformer.h.*.mlp.act", finding.GetProperty("where").GetString());
        Assert.Equal("operator-set", finding.GetProperty("cause").GetProperty("kind").GetString());
        Assert.Equal(1, version.GetProperty("waste_in_version").GetInt32());
    }

    [Fact]
    public async Task Campaign_progress_counts_the_versions_finished_so_far()
    {
        var r = await Run("campaign", "--baseline", TestRepo.GeluB, TestRepo.GeluA, TestRepo.GeluB, TestRepo.GeluA);
        Assert.True(r.Code == 0, $"exit {r.Code}: {r.Err}");
        var progress = r.Err.Split('\n').Where(l => l.StartsWith('[') && l.Contains("] version ", StringComparison.Ordinal)).ToList();
        Assert.Equal(["[1/3]", "[2/3]", "[3/3]"], progress.Select(l => l[..l.IndexOf(' ')]));
        Assert.Equal([0, 1, 2], progress.Select(l => int.Parse(l.Split(' ')[2].TrimEnd(':'))).Order());
    }

    [Fact]
    public async Task Campaign_with_a_broken_version_names_it_and_exits_2()
    {
        using var bad = TestRepo.CopyBundle(TestRepo.GeluA);
        bad.Truncate("kineto.json.gz");
        var r = await Run("campaign", "--baseline", TestRepo.GeluB, TestRepo.GeluA, bad.Path, "--quiet");
        Assert.Equal(2, r.Code);
        Assert.Contains("version 1", r.Err);
        Assert.Contains("kineto.json.gz", r.Err);
    }

    [Fact]
    public async Task Audit_of_the_two_llama_runs_lists_both_nodes_and_no_outlier()
    {
        var r = await Run("audit", TestRepo.Bundle("llama-generate-null", "A"), TestRepo.Bundle("llama-generate-null", "B"), "--json", "-", "--quiet");
        Assert.True(r.Code == 0, $"exit {r.Code}: {r.Err}");
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal("magneton.audit/1", root.GetProperty("schema").GetString());
        var nodes = root.GetProperty("nodes").EnumerateArray().ToList();
        Assert.Equal(["hf-llama-gqa-sdpa-run1", "hf-llama-gqa-sdpa-run2"], nodes.Select(n => n.GetProperty("host").GetString()));
        Assert.All(nodes, n => Assert.Equal("NVIDIA H100 80GB HBM3", n.GetProperty("gpu").GetString()));
        Assert.All(nodes, n => Assert.False(n.GetProperty("outlier").GetBoolean()));
        Assert.Empty(root.GetProperty("outliers").EnumerateArray());
        // Two nodes (22.8 % apart) cannot decide which one is off: nobody is named, nobody is cleared.
        Assert.False(root.GetProperty("outliers_decidable").GetBoolean());

        var text = await Run("audit", TestRepo.Bundle("llama-generate-null", "A"), TestRepo.Bundle("llama-generate-null", "B"));
        Assert.True(text.Code == 0, text.Err);
        var verdict = Assert.Single(text.Out.Split('\n'), l => l.StartsWith("VERDICT: ", StringComparison.Ordinal));
        Assert.Equal("VERDICT: Cannot name an outlier: 2 nodes, an outlier needs at least 3 to measure against", verdict);
        Assert.DoesNotContain("No outlier node", text.Out);
    }

    [Fact]
    public async Task Audit_of_three_nodes_that_agree_clears_them_all()
    {
        var a = TestRepo.Bundle("llama-generate-null", "A");
        using var n1 = Cluster.CampaignClusterTests.Relabelled(a, "node1");
        using var n2 = Cluster.CampaignClusterTests.Relabelled(a, "node2");
        var r = await Run("audit", a, n1.Path, n2.Path);
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("\nVERDICT: No outlier node\n", r.Out.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task Audit_finds_the_outlier_node_and_compares_it_with_the_typical_one()
    {
        // Three nodes that ran llama run 1 (the same capture under three host names) and one that ran run 2,
        // whose iteration costs ~26% more, all of it outside the matched operators (idle and host time).
        var a = TestRepo.Bundle("llama-generate-null", "A");
        using var n1 = Cluster.CampaignClusterTests.Relabelled(a, "node1");
        using var n2 = Cluster.CampaignClusterTests.Relabelled(a, "node2");
        var r = await Run("audit", a, n1.Path, n2.Path, TestRepo.Bundle("llama-generate-null", "B"), "--json", "-", "--quiet");
        Assert.True(r.Code == 0, $"exit {r.Code}: {r.Err}");
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        var flagged = root.GetProperty("nodes").EnumerateArray().Where(n => n.GetProperty("outlier").GetBoolean()).ToList();
        Assert.Equal(3, Assert.Single(flagged).GetProperty("index").GetInt32());
        // The audit states its resolution; the three identical nodes are within sensor error, the outlier is not.
        Assert.Equal(0.05, root.GetProperty("resolution").GetProperty("sensor_tolerance").GetDouble());
        Assert.Equal([true, true, true, false], root.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("within_sensor_error").GetBoolean()));
        Assert.Equal(0, root.GetProperty("typical_node").GetInt32());
        var outlier = Assert.Single(root.GetProperty("outliers").EnumerateArray());
        Assert.InRange(outlier.GetProperty("energy_ratio").GetDouble(), 1.2, 1.3);
        Assert.Empty(outlier.GetProperty("node_differences").EnumerateArray());
        Assert.DoesNotContain(outlier.GetProperty("findings").EnumerateArray(), f => f.GetProperty("verdict").GetString() == "waste");
    }

    [Fact]
    public async Task Audit_refuses_captures_of_different_jobs()
    {
        var r = await Run("audit", TestRepo.Bundle("llama-generate-null", "A"), TestRepo.GeluA);
        AssertOneLineError(r, "not the same job");
        Assert.Contains("gpt2-gelu", r.Err);
        Assert.Contains("dataflow.json", r.Err);
    }
}
