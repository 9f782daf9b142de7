using System.Text.RegularExpressions;
using Magneton.Core;
using Magneton.Core.Audits;
using Magneton.Core.Bundles;
using Magneton.Core.Campaigns;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Rendering.Html;
using Magneton.Tests.Grains;
using Xunit;

namespace Magneton.Tests.Reports;

/// <summary>The HTML pages as pure functions of the reports: content, order, self-containment and escaping.</summary>
public sealed class HtmlReportTests
{
    static readonly Lazy<ComparisonReport> Gelu = new(() => Pipeline.Compare(TestRepo.GeluA, TestRepo.GeluB, new CompareOptions()));
    static PowerSamples Power(string bundle) => PowerCsvReader.Read(Path.Combine(bundle, "power.csv"), "power.csv");

    const string Evil = "<script>alert('x')</script>&\"";

    /// <summary>No external resource of any kind: no scripts, stylesheets, images, fonts or frames; http only in SVG namespaces.</summary>
    static void AssertSelfContained(string html)
    {
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<iframe", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("@import", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("url(", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotMatch(@"\ssrc\s*=", html);
        foreach (Match m in Regex.Matches(html, "https?://[^\"'\\s<]*"))
            Assert.Equal("http://www.w3.org/2000/svg", m.Value);
    }

    [Fact]
    public void The_header_says_where_and_when_each_side_was_captured()
    {
        // The samples record their GPU in the trace and versions in context.json, but no measure.json "node" (driver).
        var html = HtmlReport.Render(Gelu.Value, null, null);
        var header = html[html.IndexOf("<header", StringComparison.Ordinal)..html.IndexOf("</header>", StringComparison.Ordinal)];
        var lines = Regex.Matches(header, "<div><span class=\"side-[ab]\">[AB]</span> (.*?)</div>").Select(m => Regex.Replace(m.Groups[1].Value, "<[^>]+>", "")).ToList();
        Assert.Equal(
        [
            "NVIDIA H100 80GB HBM3 \u00b7 driver not recorded \u00b7 torch 2.11.0+cu130 \u00b7 transformers 5.17.0 \u00b7 captured 2026-11-26 14:50 UTC",
            "NVIDIA H100 80GB HBM3 \u00b7 driver not recorded \u00b7 torch 2.11.0+cu130 \u00b7 transformers 5.17.0 \u00b7 captured 2026-11-26 14:50 UTC",
        ], lines);
        // measure.json baseline.window_unix_ns[0]: 1795704618165584409 (A) and 12 s later (B).
        Assert.Equal("2026-11-26T14:50:18Z", Gelu.Value.A.Capture!.CapturedAt!.Value.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("2026-11-26T14:50:30Z", Gelu.Value.B.Capture!.CapturedAt!.Value.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void The_header_shows_the_node_a_capture_recorded()
    {
        // What `magneton capture` adds to measure.json: the machine as NVML reported it.
        using var copy = TestRepo.CopyBundle(TestRepo.GeluB);
        var measure = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(copy.File("measure.json")))!.AsObject();
        measure["node"] = new System.Text.Json.Nodes.JsonObject { ["host"] = "gpu-07", ["gpu"] = "NVIDIA H200", ["driver"] = "580.65.06", ["power_limit_w"] = 700 };
        File.WriteAllText(copy.File("measure.json"), measure.ToJsonString());
        var report = Pipeline.Compare(TestRepo.GeluA, copy.Path, new CompareOptions());
        Assert.Equal(new CaptureInfo("gpu-07", "NVIDIA H200", "580.65.06", "2.11.0+cu130", "5.17.0", report.B.Capture!.CapturedAt), report.B.Capture);
        var html = HtmlReport.Render(report, null, null);
        Assert.Contains("<span class=\"side-b\">B</span> NVIDIA H200 \u00b7 driver 580.65.06 \u00b7 torch 2.11.0+cu130 \u00b7 transformers 5.17.0 \u00b7 captured 2026-11-26 14:50 UTC on gpu-07</div>", html);
    }

    [Fact]
    public void Gelu_page_puts_the_verdict_finding_and_chart_first_then_the_evidence()
    {
        var r = Gelu.Value;
        var html = HtmlReport.Render(r, Power(TestRepo.GeluA), Power(TestRepo.GeluB));
        AssertSelfContained(html);

        int verdict = html.IndexOf("id=\"verdict\"", StringComparison.Ordinal);
        int summary = html.IndexOf("id=\"finding-title-1\"", StringComparison.Ordinal);
        int split = html.IndexOf("id=\"energy-split-svg\"", StringComparison.Ordinal);
        int chart = html.IndexOf("id=\"region-chart-svg\"", StringComparison.Ordinal);
        int details = html.IndexOf("id=\"finding-1\"", StringComparison.Ordinal);
        int timeline = html.IndexOf("id=\"power-timeline-svg\"", StringComparison.Ordinal);
        int accounting = html.IndexOf("id=\"accounting\"", StringComparison.Ordinal);
        Assert.True(verdict > 0 && verdict < summary && summary < split && split < chart && chart < details && details < timeline && timeline < accounting,
            $"order: verdict {verdict}, summary {summary}, split {split}, chart {chart}, details {details}, timeline {timeline}, accounting {accounting}");

        Assert.Contains("1 energy waste finding", html);
        Assert.Contains("transformer.h.*.mlp.act", html);
        // The finding's evidence: both chains, kernels, source lines, config keys.
        var f = r.Findings.Single();
        var region = r.Regions.Single(x => x.Id == f.Regions[0]);
        Assert.Contains("aten.pow.Tensor_Scalar", html);
        Assert.Contains("<li>aten.gelu.default</li>", html);
        Assert.Equal(region.A.Ops.Count, Regex.Matches(html[details..timeline], "<ol class=\"chain\">(.*?)</ol>").First().Groups[1].Value.Split("<li>").Length - 1);
        Assert.Contains("activation_function", html);
        Assert.Contains("gelu_pytorch_tanh", html);
        Assert.Contains("transformers/activations.py:66", html);
        Assert.Contains("GeluCUDAKernelImpl", html);
        Assert.Contains("only in A", html);
        // Energy split: both runs' operator and idle/host energy as numbers.
        Assert.Contains($"operators {r.A.GpuEnergyJ:0.000} J", html);
        Assert.Contains($"{r.B.IdleEnergyJ:0.000} J", html);
        // The chart: ten regions, the four finding regions first and tinted.
        var chartSvg = html[chart..html.IndexOf("</svg>", chart, StringComparison.Ordinal)];
        Assert.Equal(4, Regex.Matches(chartSvg, @"\[1\] </tspan>").Count);
        Assert.Equal(HtmlReport.ChartRegions, Regex.Matches(chartSvg, "<title>A: ").Count);
        // The timeline: one path per run.
        var timelineSvg = html[timeline..html.IndexOf("</svg>", timeline, StringComparison.Ordinal)];
        Assert.Equal(2, Regex.Matches(timelineSvg, "<path d=\"M").Count);
    }

    [Fact]
    public void Without_power_samples_the_timeline_is_left_out_with_the_reason()
    {
        var html = HtmlReport.Render(Gelu.Value, null, null, "a stored run of the cluster; its power.csv is not on this machine");
        AssertSelfContained(html);
        Assert.DoesNotContain("power-timeline-svg", html);
        Assert.Contains("Power timeline not shown: a stored run of the cluster", html);
        Assert.Contains("region-chart-svg", html);
    }

    [Fact]
    public void Without_findings_the_verdict_says_so_and_the_chart_remains()
    {
        var html = HtmlReport.Render(Gelu.Value with { Findings = [] }, null, null);
        AssertSelfContained(html);
        Assert.Contains("class=\"verdict ok\"", html);
        Assert.Contains("No operator-level energy waste above the threshold", html);
        Assert.Contains("region-chart-svg", html);
        Assert.DoesNotContain("id=\"finding-1\"", html);
    }

    [Fact]
    public void Same_input_gives_the_same_page()
    {
        var a = Power(TestRepo.GeluA);
        Assert.Equal(HtmlReport.Render(Gelu.Value, a, null), HtmlReport.Render(Gelu.Value, a, null));
    }

    static ComparisonReport EvilReport()
    {
        var side = new RegionSideReport([1], [Evil, "aten.mul.Tensor"], [Evil], 0.5, 0.001, "replay");
        var other = new RegionSideReport([1], ["aten.gelu.default"], [Evil], 0.1, 0.001, "replay");
        var cause = new CauseReport(CauseKind.OperatorSet, [new ConfigDifference(Evil, Evil, null)], new PerSide<string>([Evil], []),
            new PerSide<string>([Evil], []), new PerSide<string>([Evil], [Evil]), new PerSide<string>([Evil], []))
        { Suggestion = Evil, EfficientOps = [Evil], SourceLines = new PerSide<string>([Evil], [Evil]) };
        var finding = new FindingReport(1, Verdict.Waste, Side.A, [7], 1, 0.4, 5, 1, "misconfiguration", cause, Evil) { Where = Evil, ShareOfJob = 0.1, EnergySource = Evil };
        var run = new RunSide(Evil, Evil, 3, 1, 0.01, 1.2, 0.02, 0.2) { Closure = 1, ReplayShare = 0.5 };
        return new ComparisonReport(ComparisonReport.SchemaName, run, run with { System = Evil + "B" },
            new MatchingSummary(1, 0, 1, 1, 1), new EnergyModelSummary(Evil, Evil),
            [new RegionReport(7, 5, 1, side, other)], [finding],
            new UnmatchedReport([new UnmatchedOperator(Evil, 1, 0.1)], []), [Evil, Evil, Evil]);
    }

    [Fact]
    public void Every_string_from_the_report_is_escaped()
    {
        var html = HtmlReport.Render(EvilReport(), null, null, Evil);
        AssertSelfContained(html); // in particular: no <script from the data
        Assert.DoesNotContain(Evil, html);
        Assert.DoesNotContain("alert('x')</script>", html);
        Assert.Contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;", html);
    }

    static CampaignReport Campaign()
    {
        var gelu = Gelu.Value;
        var outcomes = new List<VersionOutcome>
        {
            new(1, TestRepo.GeluB, "run-b", "job-1", gelu with { A = gelu.B, B = gelu.A, Findings = [.. gelu.Findings.Select(f => f with { Wasteful = Side.B })] }, null),
            new(2, Evil, "run-x", "job-2", null, Evil),
        };
        return CampaignReportBuilder.Build("run-a", outcomes, 0.1);
    }

    [Fact]
    public void Campaign_page_has_the_verdict_chart_versions_and_findings()
    {
        var html = HtmlReport.RenderCampaign(Campaign());
        AssertSelfContained(html);
        Assert.True(html.IndexOf("id=\"verdict\"", StringComparison.Ordinal) < html.IndexOf("id=\"campaign-chart-svg\"", StringComparison.Ordinal));
        Assert.Contains("1 of 2 version(s) waste energy against the baseline", html);
        Assert.Contains("transformer.h.*.mlp.act", html);
        Assert.Contains("id=\"v1-finding-1\"", html);
        Assert.Contains("failed: &lt;script&gt;", html);
        Assert.DoesNotContain(Evil, html);
    }

    [Fact]
    public void Audit_page_has_the_verdict_chart_nodes_and_outliers()
    {
        var nodes = new List<AuditNode>
        {
            new(0, "/b/0", "r0", "node-0", "H100", "550", 700, 3.0, 0.007, 0, false),
            new(1, "/b/1", "r1", "node-1", "H100", "550", 700, 3.01, 0.007, 0.3, false),
            new(2, "/b/2", "r2", Evil, "H100", "560", 500, 3.6, 0.008, 12, true),
        };
        var finding = Gelu.Value.Findings[0] with { Wasteful = Side.B };
        var report = new AuditReport(AuditReport.SchemaName, Evil, nodes, 3.01, 0.01, 1,
            [new AuditOutlier(2, 1.2, 1.1, [new ConfigDifference("driver", "550", "560")], [finding], "job")], [Evil]);
        var html = HtmlReport.RenderAudit(report);
        AssertSelfContained(html);
        Assert.Contains("1 outlier node: 2 (&lt;script&gt;", html);
        Assert.Contains("class=\"verdict waste\"", html);
        var cleared = report with { Outliers = [], Nodes = [.. nodes.Select(n => n with { Outlier = false })] };
        Assert.Contains("class=\"verdict ok\"><div class=\"label\">VERDICT</div><div><div class=\"text\">No outlier node<", HtmlReport.RenderAudit(cleared));
        Assert.Contains("audit-chart-svg", html);
        Assert.Contains("id=\"n2-finding-1\"", html);
        Assert.Contains("<td>driver</td>", html);
        Assert.DoesNotContain(Evil, html);
    }
}
