using System.Text.Json;
using Magneton.Tests.Bundles;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Analysis;

/// <summary>
/// A campaign of CPU captures (no energy measured): a version is a regression by CPU time and by cpu-time findings
/// the version before it did not have. The real gpt2-gelu pair, its measure.json saying "device": "cpu".
/// </summary>
[Collection("CLI")]
public sealed class CampaignCpuRegressionTests
{
    static TempBundle AsCpu(string sample) => CpuCaptureAnalysisTests.AsCpu(sample);

    [Fact]
    public async Task A_cpu_campaign_ranks_the_version_with_the_new_cpu_time_finding_as_the_regression()
    {
        using var baseline = AsCpu("gpt2-gelu/B-hf-gpt2-gelu_pytorch_tanh");
        using var same = AsCpu("gpt2-gelu/B-hf-gpt2-gelu_pytorch_tanh");
        using var slower = AsCpu("gpt2-gelu/A-hf-gpt2-gelu_new");
        var r = await CliRunner.Run("campaign", "--baseline", baseline.Path, same.Path, slower.Path, "--json", "-", "--quiet");
        Assert.True(r.Code == 0, r.Err);
        using var doc = JsonDocument.Parse(r.Out);
        var versions = doc.RootElement.GetProperty("versions").EnumerateArray().ToList();
        Assert.Equal(0, versions[0].GetProperty("run").GetProperty("iteration_energy_j").GetDouble()); // nothing measured
        Assert.DoesNotContain(versions[0].GetProperty("findings").EnumerateArray(), f => f.GetProperty("wasteful").GetString() == "b");
        Assert.Contains(versions[1].GetProperty("findings").EnumerateArray(),
            f => f.GetProperty("verdict").GetString() == "cpu-time" && f.GetProperty("wasteful").GetString() == "b"
                 && f.GetProperty("where").GetString()!.Contains("mlp.act", StringComparison.Ordinal));
        var regression = Assert.Single(doc.RootElement.GetProperty("regressions").EnumerateArray());
        Assert.Equal(0, regression.GetProperty("from").GetInt32());
        Assert.Equal(1, regression.GetProperty("to").GetInt32());
        Assert.Contains(regression.GetProperty("new_findings").EnumerateArray(), n => n.GetString()!.Contains("mlp.act", StringComparison.Ordinal));
        Assert.True(double.IsFinite(regression.GetProperty("energy_ratio").GetDouble()), "the ratio is of CPU time, not NaN");
    }
}
