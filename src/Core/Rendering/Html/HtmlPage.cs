using System.Text;
using static Magneton.Core.Rendering.Html.HtmlText;

namespace Magneton.Core.Rendering.Html;

/// <summary>
/// The page shell: one self-contained document (inline CSS, inline SVG, system fonts, no scripts, no external
/// resources), readable in any browser and printable.
/// </summary>
internal static class HtmlPage
{
    internal const string Css = """
        :root{--a:#2563c9;--b:#e07b00;--waste:#c0262d;--trade:#a86400;--ok:#2d7a3a;--ink:#1b2130;--muted:#5d6778;
          --line:#e1e4ea;--bg:#f4f5f8;--card:#fff;--mono:ui-monospace,"SFMono-Regular","DejaVu Sans Mono","Liberation Mono",Menlo,Consolas,monospace}
        *{box-sizing:border-box}
        html{background:var(--bg)}
        body{margin:0;color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Liberation Sans","DejaVu Sans",sans-serif}
        main{max-width:1240px;margin:0 auto;padding:12px 20px 40px}
        a{color:inherit}
        code,.mono{font-family:var(--mono);font-size:12.5px}
        header.top{display:flex;align-items:baseline;justify-content:space-between;gap:16px;flex-wrap:wrap;margin:0 0 8px}
        header.top h1{font-size:19px;margin:0;font-weight:650}
        .brand{color:var(--muted);font-size:11.5px;letter-spacing:.07em;text-transform:uppercase}
        .captures{flex-basis:100%;color:var(--ink)} .captures .side-a,.captures .side-b{font-weight:650}
        .side-a{color:var(--a)} .side-b{color:var(--b)}
        .key{display:inline-block;width:11px;height:11px;border-radius:2px;vertical-align:-1px;margin-right:4px}
        .key.a{background:var(--a)} .key.b{background:var(--b)}
        .verdict{border-radius:10px;padding:10px 16px;color:#fff;display:flex;gap:18px;align-items:center}
        .verdict.waste{background:var(--waste)} .verdict.trade{background:var(--trade)} .verdict.ok{background:var(--ok)}
        .verdict .label{font-size:11px;letter-spacing:.12em;font-weight:700;opacity:.85}
        .verdict .text{font-size:20px;font-weight:700;line-height:1.2}
        .verdict .sub{font-size:14px;opacity:.95;margin-top:2px}
        .card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 16px 12px;margin-top:10px}
        .card h2{font-size:15px;margin:0 0 6px;font-weight:650}
        .card h2 .muted{font-weight:400}
        .muted{color:var(--muted)}
        .small{font-size:12.5px}
        .grid2{display:grid;grid-template-columns:minmax(0,1.15fr) minmax(0,1fr);gap:10px}
        .grid2>.card{margin-top:10px}
        .cols{display:grid;grid-template-columns:1fr 1fr;gap:14px}
        ol.flist{margin:0;padding:0;list-style:none}
        ol.flist li{padding:5px 0;border-top:1px solid var(--line)}
        ol.flist li:first-child{border-top:0}
        ol.flist a{text-decoration:none}
        ol.flist .where{font-family:var(--mono);font-weight:700;font-size:14px}
        .oneline{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
        .badge{display:inline-block;border-radius:4px;padding:0 6px;font-size:11.5px;font-weight:700;color:#fff;letter-spacing:.03em;vertical-align:1px}
        .badge.waste{background:var(--waste)} .badge.trade-off{background:var(--trade)} .badge.plain{background:#6b7385}
        .finding{border-left:5px solid var(--waste)}
        .finding.trade-off{border-left-color:var(--trade)}
        .finding h3{margin:2px 0 6px;font-size:16px}
        .finding h3 .where{font-family:var(--mono)}
        .tiles{display:flex;flex-wrap:wrap;gap:8px;margin:6px 0 8px}
        .tile{border:1px solid var(--line);border-radius:8px;padding:4px 10px;min-width:120px}
        .tile b{display:block;font-size:16px}
        .tile span{font-size:11.5px;color:var(--muted)}
        .fix{background:#f1f6ff;border:1px solid #d5e3fb;border-radius:8px;padding:8px 12px;margin:8px 0}
        .fix h4,.finding h4{margin:8px 0 4px;font-size:13px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted)}
        .fix h4{margin-top:0}
        table{border-collapse:collapse;width:100%}
        th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
        th{font-size:12px;color:var(--muted);font-weight:600}
        td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
        table.narrow{max-width:980px}
        tr.hl td{background:#fff3f3}
        .chain{margin:0;padding-left:22px;font-family:var(--mono);font-size:12.5px}
        .chain li{padding:1px 0}
        .chainbox{border:1px solid var(--line);border-radius:8px;padding:6px 10px}
        .chainbox.wasteful{border-color:#efb4b6;background:#fff8f8}
        .chainbox h5{margin:0 0 4px;font-size:13px}
        .kernels{margin:0;padding-left:18px}
        .kernels li{margin:2px 0;word-break:break-all}
        .kernels .only{font-weight:700}
        details summary{cursor:pointer}
        details .full{font-family:var(--mono);font-size:11.5px;color:var(--muted);word-break:break-all;margin:2px 0 4px}
        pre.src{margin:2px 0;padding:6px 8px;background:#f6f7f9;border-radius:6px;white-space:pre-wrap;word-break:break-word;font-size:12px}
        svg{display:block;max-width:100%;height:auto}
        svg text{font-family:inherit}
        .note{color:var(--muted);font-size:12.5px;margin:4px 0 0}
        footer{color:var(--muted);font-size:12px;margin-top:16px}
        @media (max-width:900px){.grid2,.cols{grid-template-columns:1fr}}
        @media print{html{background:#fff}.card{break-inside:avoid}}
        """;

    internal static string Wrap(string title, string body)
    {
        var sb = new StringBuilder(body.Length + Css.Length + 512);
        sb.Line("<!DOCTYPE html>");
        sb.Line("<html lang=\"en\">");
        sb.Line("<head>");
        sb.Line("<meta charset=\"utf-8\">");
        sb.Line("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        sb.Line("<meta name=\"generator\" content=\"magneton\">");
        sb.Append("<title>").Append(E(title)).Line("</title>");
        sb.Append("<style>\n").Append(Css).Line("</style>");
        sb.Line("</head>");
        sb.Line("<body>");
        sb.Line("<main>");
        sb.Append(body);
        sb.Line("</main>");
        sb.Line("</body>");
        sb.Line("</html>");
        return sb.ToString();
    }
}
