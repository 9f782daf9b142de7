using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Magneton.Client;
using Magneton.Tests.Grains;
using Xunit;

namespace Magneton.Tests.Reports;

/// <summary>
/// The gpt2-gelu sample's HTML report (written by <c>magneton compare --html</c>) rendered in headless Chromium:
/// the screenshot is not blank and shows the verdict banner and the chart's bars in the first screen (1280x900),
/// the DOM holds the chart's SVG and the finding, and the browser's own layout puts the verdict, the finding's
/// title and the whole region chart within the first 900 px of the page.
/// </summary>
[Collection("CLI")]
public sealed class HtmlScreenshotTests
{
    const int Width = 1280, Height = 900;

    /// <summary>
    /// Added to a copy of the page only (the report itself has no script): records where the browser laid out
    /// the key elements, as a data attribute that --dump-dom then serialises.
    /// </summary>
    const string LayoutProbe = """
        <script>
        (function () {
          function box(sel) { var e = document.querySelector(sel); if (!e) return null; var r = e.getBoundingClientRect(); return [Math.round(r.top + window.scrollY), Math.round(r.bottom + window.scrollY)]; }
          var out = { vh: window.innerHeight, vw: window.innerWidth, verdict: box('#verdict'), finding: box('#finding-title-1'), chart: box('#region-chart-svg'), details: box('#finding-1') };
          document.body.setAttribute('data-layout', JSON.stringify(out));
        })();
        </script>
        """;

    static readonly (int R, int G, int B) Waste = (0xc0, 0x26, 0x2d), BlueA = (0x25, 0x63, 0xc9), OrangeB = (0xe0, 0x7b, 0x00);

    [ChromiumFact]
    public async Task Gelu_report_renders_with_the_verdict_finding_and_chart_in_the_first_screen()
    {
        var dir = Path.Combine(Path.GetTempPath(), "magneton-html-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var html = Path.Combine(dir, "report.html");
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            int code = await Program.RunAsync(["compare", TestRepo.GeluA, TestRepo.GeluB, "--html", html, "--quiet"], stdout, stderr);
            Assert.True(code == 0, stderr.ToString());
            Assert.Equal("", stdout.ToString());
            Assert.True(File.Exists(html));

            // The screenshot: a real page, not a blank one.
            var png = Path.Combine(dir, "report.png");
            await Chromium.RunAsync(html, Width, Height, "--screenshot=" + png);
            Assert.True(File.Exists(png), "no screenshot written");
            var bytes = await File.ReadAllBytesAsync(png);
            Assert.True(bytes.Length > 40_000, $"screenshot is only {bytes.Length} bytes");
            var image = Png.Decode(bytes);
            Assert.True(image.Width >= Width && image.Height >= Height, $"screenshot is {image.Width}x{image.Height}");
            Assert.True(image.LuminanceStdDev(0, 0, Width, Height) > 15, "screenshot looks blank");
            // The red verdict banner near the top, the A/B bars and the red difference bars of the finding below it.
            Assert.True(image.Count(0, 0, Width, 200, Waste) > 20_000, "no waste verdict banner in the top 200 px");
            Assert.True(image.Count(0, 300, Width, Height - 300, BlueA) > 1_000, "no A bars on the first screen");
            Assert.True(image.Count(0, 300, Width, Height - 300, OrangeB) > 1_000, "no B bars on the first screen");
            Assert.True(image.Count(700, 300, Width - 700, Height - 300, Waste) > 3_000, "no difference bars of the finding on the first screen");
            if (Environment.GetEnvironmentVariable("MAGNETON_UPDATE_SCREENSHOTS") is "1")
                File.Copy(png, Path.Combine(TestRepo.Root, "docs", "images", "report-gpt2-gelu.png"), overwrite: true);

            // The DOM after load: the chart's SVG and the finding.
            var dom = await Chromium.RunAsync(html, Width, Height, "--dump-dom");
            Assert.Contains("<svg id=\"region-chart-svg\"", dom);
            Assert.Contains("transformer.h.*.mlp.act", dom);
            Assert.Contains("id=\"finding-title-1\"", dom);

            // The browser's layout: verdict, the finding's title and the whole chart within the first 900 px.
            var probe = Path.Combine(dir, "probe.html");
            await File.WriteAllTextAsync(probe, (await File.ReadAllTextAsync(html)).Replace("</body>", LayoutProbe + "</body>", StringComparison.Ordinal));
            var probed = await Chromium.RunAsync(probe, Width, Height, "--dump-dom");
            var m = Regex.Match(probed, "data-layout=\"([^\"]*)\"");
            Assert.True(m.Success, "the layout probe did not run");
            using var layout = JsonDocument.Parse(WebUtility.HtmlDecode(m.Groups[1].Value));
            var root = layout.RootElement;
            // Laid out at the screenshot's width, so document coordinates 0..900 are what the first screen shows
            // (--dump-dom's own viewport is shorter than the window; the page's layout does not depend on it).
            Assert.Equal(Width, root.GetProperty("vw").GetInt32());
            foreach (var name in new[] { "verdict", "finding", "chart" })
            {
                var box = root.GetProperty(name);
                Assert.Equal(JsonValueKind.Array, box.ValueKind);
                int top = box[0].GetInt32(), bottom = box[1].GetInt32();
                Assert.True(top >= 0 && bottom <= Height, $"{name} is at {top}..{bottom} px, outside the first screen of {Height} px");
            }
            Assert.True(root.GetProperty("verdict")[1].GetInt32() <= root.GetProperty("chart")[0].GetInt32(), "the verdict comes before the chart");
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
