using System.Globalization;
using System.Text;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;

namespace Magneton.Core.Rendering;

/// <summary>
/// The summary a person reads in ten seconds: verdict, then findings (what, where, energy per iteration and
/// share of the job, why, what to change), then the whole-job accounting and how far to trust it.
/// </summary>
public static class TerminalReport
{
    public static string Render(ComparisonReport r, int maxFindings = 5)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        // A CPU capture measured no energy: findings by CPU time, and no energy table.
        bool cpu = r.Cost == CostBasis.CpuTime;
        int waste = r.Findings.Count(f => f.Verdict == Verdict.Waste);
        int trade = r.Findings.Count(f => f.Verdict == Verdict.TradeOff);
        int possible = r.Findings.Count(f => f.Verdict == Verdict.Possible);
        sb.AppendLine(ci, $"Magneton: A = {r.A.System}, B = {r.B.System}");
        if (cpu) sb.AppendLine("CPU capture: no GPU energy was measured; ranked by CPU time");
        if (!r.Comparable)
            sb.AppendLine("VERDICT: not comparable: the two systems do not compute the same thing (" + r.Comparability!.Reason + "); no " + (cpu ? "finding" : "waste claim"));
        else sb.AppendLine(cpu
            ? r.Findings.Count > 0
                ? $"VERDICT: {r.Findings.Count} CPU-time finding{(r.Findings.Count == 1 ? "" : "s")} (not energy)"
                : "VERDICT: no operator-level CPU-time difference above the threshold"
            : waste > 0
            ? $"VERDICT: {waste} energy waste finding{(waste == 1 ? "" : "s")}" + (trade > 0 ? $", {trade} trade-off{(trade == 1 ? "" : "s")}" : "")
            : trade > 0 ? $"VERDICT: no waste; {trade} trade-off{(trade == 1 ? "" : "s")}" : "VERDICT: no operator-level energy waste above the threshold");
        if (possible > 0)
            sb.AppendLine(ci, $"         {possible} possible difference{(possible == 1 ? "" : "s")} below resolution (interval reaches below the threshold)");
        sb.AppendLine();
        foreach (var f in r.Findings.Take(maxFindings))
        {
            string side = f.Wasteful.Label();
            sb.AppendLine(ci, $"[{f.Id}] {f.Verdict.Json().ToUpperInvariant()} in {side}: {f.Where}  ({f.Instances}x{(f.Sites.Count > 1 && f.Sites.Count != f.Instances ? $" at {f.Sites.Count} sites" : "")})");
            sb.AppendLine(cpu
                ? string.Create(ci, $"    {(f.CpuTimeDeltaS ?? 0) * 1000:F3} ms/iteration more CPU time = {f.ShareOfJob:P1} of {side}'s job; {f.TimeRatio:F2}x CPU time")
                : string.Create(ci, $"    {f.EnergyDeltaJ * 1000:F1} mJ/iteration more = {f.ShareOfJob:P1} of {side}'s job; {f.EnergyRatio:F2}x energy{Interval(f)}, {f.TimeRatio:F2}x GPU time ({f.EnergySource})"));
            if (!cpu && f.SavingBasis == SavingBasis.Dynamic)
                sb.AppendLine(ci, $"    {side}'s job is host-bound: switching saves the dynamic part, {f.JobSavingJ * 1000:F1} mJ/iteration");
            sb.AppendLine(ci, $"    why: {f.Cause.Kind.Json()} ({f.Category})");
            if (f.Sites.Count > 1)
                sb.AppendLine("    sites: " + f.Sites.Count.ToString(ci) + ", largest " + string.Join("; ", f.Sites.Take(3).Select(x =>
                    string.Create(ci, $"{Clip(x.Where, 40)} {x.EnergyDeltaJ * 1000:F1} mJ"))));
            var classes = f.Wasteful == Side.A ? f.Cause.Classes.A : f.Cause.Classes.B;
            if (classes.Count > 0) sb.AppendLine(ci, $"    classes: {string.Join(", ", classes.Take(3))}");
            var src = f.Wasteful == Side.A ? f.Cause.SourceLines.A : f.Cause.SourceLines.B;
            foreach (var line in src.Take(2)) sb.AppendLine(ci, $"    at {Clip(line, 110)}");
            if (f.Cause.Kind is CauseKind.KernelChoice or CauseKind.Layout)
            {
                var ka = f.Cause.Kernels.A.Where(k => !f.Cause.Kernels.B.Contains(k)).Take(2);
                var kb = f.Cause.Kernels.B.Where(k => !f.Cause.Kernels.A.Contains(k)).Take(2);
                foreach (var k in ka) sb.AppendLine(ci, $"    A kernel: {Clip(k, 100)}");
                foreach (var k in kb) sb.AppendLine(ci, $"    B kernel: {Clip(k, 100)}");
            }
            foreach (var c in f.Cause.Config.Take(3)) sb.AppendLine(ci, $"    config {c.Key}: A={c.A ?? "unset"} B={c.B ?? "unset"}");
            sb.AppendLine(ci, $"    fix: {Clip(f.Cause.Suggestion, 200)}");
            sb.AppendLine();
        }
        if (r.Findings.Count > maxFindings) sb.AppendLine(ci, $"... {r.Findings.Count - maxFindings} more findings in --json");
        if (cpu)
        {
            sb.AppendLine(ci, $"CPU time per iteration (ms) {"A",10} {"B",10}");
            sb.AppendLine(ci, $"  job (uninstrumented)      {r.A.IterationTimeS * 1000,10:F3} {r.B.IterationTimeS * 1000,10:F3}");
            sb.AppendLine(ci, $"  operators (profiler)      {r.A.CpuTimeS * 1000,10:F3} {r.B.CpuTimeS * 1000,10:F3}");
            sb.AppendLine(ci, $"Matching: {r.Matching.Regions} regions, coverage A {r.Matching.ACoverage:P0} B {r.Matching.BCoverage:P0}, {r.Matching.ElapsedMs:F0} ms");
            return sb.ToString();
        }
        sb.AppendLine(ci, $"Energy per iteration (J)   {"A",10} {"B",10}");
        sb.AppendLine(ci, $"  measured job             {r.A.IterationEnergyJ,10:F3} {r.B.IterationEnergyJ,10:F3}");
        sb.AppendLine(ci, $"  operators (GPU)          {r.A.GpuEnergyJ,10:F3} {r.B.GpuEnergyJ,10:F3}");
        sb.AppendLine(ci, $"  idle/host                {r.A.IdleEnergyJ,10:F3} {r.B.IdleEnergyJ,10:F3}");
        sb.AppendLine(ci, $"  unexplained              {r.A.UnexplainedJ,10:F3} {r.B.UnexplainedJ,10:F3}   (+-{r.A.UnexplainedSigmaJ:F3} / +-{r.B.UnexplainedSigmaJ:F3})");
        sb.AppendLine(ci, $"  from replay              {r.A.ReplayShare,10:P0} {r.B.ReplayShare,10:P0}");
        sb.AppendLine(ci, $"  model closure            {r.A.Closure,10:P0} {r.B.Closure,10:P0}");
        sb.AppendLine(ci, $"Energy sources: {r.EnergyModel.Sources} (A: {Sources(r.A)}; B: {Sources(r.B)}; idle/host = idle power x time the GPU ran nothing)");
        sb.AppendLine(ci, $"Matching: {r.Matching.Regions} regions, coverage A {r.Matching.ACoverage:P0} B {r.Matching.BCoverage:P0}, {r.Matching.ElapsedMs:F0} ms");
        foreach (var n in r.Notes.Skip(2).Take(4)) sb.AppendLine("note: " + n);
        return sb.ToString();
    }

    static string Interval(FindingReport f) =>
        f.EnergyRatioInterval.Count == 2 ? string.Create(CultureInfo.InvariantCulture, $" [{f.EnergyRatioInterval[0]:F2}, {f.EnergyRatioInterval[1]:F2}]") : "";

    static string Sources(RunSide s) =>
        s.EnergySources.Count == 0 ? "none" : string.Join(", ", s.EnergySources.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:P0}")));

    static string Clip(string s, int n) => s.Length <= n ? s : s[..(n - 3)] + "...";
}
