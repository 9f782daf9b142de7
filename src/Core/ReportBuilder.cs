using System.Globalization;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Diagnosis;
using Magneton.Core.Energy;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Runs;

namespace Magneton.Core;

/// <summary>Assembles the report JSON model from the pipeline's results. No analysis happens here.</summary>
public static class ReportBuilder
{
    public static ComparisonReport Build(MatchSession s, IReadOnlyList<RegionMatch> regions, IReadOnlyList<Finding> findings,
        IReadOnlyList<CauseReport> causes, double matchingElapsedMs)
    {
        var inRegionA = new bool[s.A.Operators.Length];
        var inRegionB = new bool[s.B.Operators.Length];
        foreach (var r in regions)
        {
            foreach (var n in r.NodesA) inRegionA[n] = true;
            foreach (var n in r.NodesB) inRegionB[n] = true;
        }
        var matching = new MatchingSummary(regions.Count, Math.Max(0, regions.Count - s.Segments.Count),
            Coverage(s.A, inRegionA), Coverage(s.B, inRegionB), Math.Round(matchingElapsedMs, 2))
        { EquivalentValues = s.Values.EquivalentValueCount };

        var regionReports = regions.Select(r => Region(s, r)).ToList();
        var findingReports = findings.Select((f, i) => Finding(s, f, causes[i])).ToList();
        var comparability = Comparability.Of(s, regions);
        var notes = Cpu(s) ? CpuNotes(s, findings, comparability) : Notes(s, findings, comparability);
        return new ComparisonReport(ComparisonReport.SchemaName, Side(s.A), Side(s.B), matching, EnergyModelSummary(s),
            regionReports, findingReports, new UnmatchedReport(Unmatched(s.A, inRegionA), Unmatched(s.B, inRegionB)), notes)
        {
            Threshold = s.Options.Threshold,
            Cost = Cpu(s) ? CostBasis.CpuTime : CostBasis.Energy,
            Comparability = new ComparabilityReport(comparability.Comparable, comparability.Reason, comparability.EquivalentShareA,
                comparability.EquivalentShareB, comparability.Splits, comparability.ResultsEquivalent, Comparability.MinEquivalentShare),
        };
    }

    /// <summary>A side is a CPU capture: no energy was measured, costs are CPU time.</summary>
    static bool Cpu(MatchSession s) => s.A.IsCpuCapture || s.B.IsCpuCapture;

    static RunSide Side(Run r)
    {
        var e = r.Energy;
        return new RunSide(r.System, r.BundlePath, r.Operators.Length, e.OperatorEnergyJ, e.OperatorGpuSeconds,
            e.IterationEnergyJ, e.IterationSeconds, e.IdleHostEnergyJ)
        {
            ReplayShare = e.ReplayShare, Closure = e.Closure, IdlePowerW = e.IdlePowerW, TimelinePowerW = e.TimelinePowerW,
            ReplayCheckMaxError = e.ReplayCheckMaxError,
            ReplayChecks = e.ReplayChecks.Select(c => new ReplayCheckReport(c.Kind, c.Id, Math.Round(c.ReplayMj, 4),
                Math.Round(c.ModelMj, 4), Math.Round(c.Error, 4), c.CounterUpdates)).ToList(),
            IterationEnergySigmaJ = e.IterationEnergySigmaJ, IterationCounterUpdates = e.IterationCounterUpdates,
            GpuEnergySigmaJ = e.OperatorEnergySigmaJ, DynamicEnergyJ = e.DynamicEnergyJ, GpuBusyS = e.GpuBusySeconds,
            GapS = e.GapSeconds, GapPowerW = e.GapPowerW, IdleEnergySigmaJ = e.IdleHostSigmaJ,
            UnexplainedJ = e.UnexplainedJ, UnexplainedSigmaJ = e.UnexplainedSigmaJ,
            Bound = e.GpuBound ? JobBound.GpuBound : JobBound.HostBound,
            EnergySources = Shares(e.SourceShares),
            Capture = CaptureInfo.Of(r.Bundle),
            Device = r.Bundle.Measure.Device, EnergyMeasured = !r.IsCpuCapture,
            CpuTimeS = r.Operators.Sum(o => o.CpuSeconds),
        };
    }

    static Dictionary<string, double> Shares(IReadOnlyDictionary<EnergySource, double> shares) =>
        shares.Where(kv => kv.Value > 0).ToDictionary(kv => kv.Key.Json(), kv => Math.Round(kv.Value, 4));

    static double Coverage(Run r, bool[] inRegion)
    {
        int total = 0, covered = 0;
        foreach (var op in r.Operators)
        {
            if (op.IsPureView) continue;
            total++;
            if (inRegion[op.Index]) covered++;
        }
        return total == 0 ? 1 : Math.Round((double)covered / total, 4);
    }

    static RegionReport Region(MatchSession s, RegionMatch r)
    {
        var a = RegionSide.Of(s.A, r.NodesA);
        var b = RegionSide.Of(s.B, r.NodesB);
        var energy = RegionEnergy.Of(s.A, r.NodesA, a, s.B, r.NodesB, b);
        var ratio = energy.Ratio(aOverB: true, Detector.RatioCap);
        bool cpu = Cpu(s);
        return new RegionReport(r.Id, Ratio(energy.A.ValueJ, energy.B.ValueJ),
            cpu ? Ratio(a.CpuSeconds, b.CpuSeconds) : Ratio(a.GpuSeconds, b.GpuSeconds),
            SideReport(s.A, r.NodesA, a), SideReport(s.B, r.NodesB, b))
        {
            EnergyRatioInterval = [Math.Round(ratio.Low, 4), Math.Round(ratio.High, 4)],
            EnergyBasis = energy.Basis,
            InSituEnergyRatio = Ratio(a.EnergyJ, b.EnergyJ),
        };
    }

    /// <summary>A over B; 0 when both are zero, capped when only B is.</summary>
    static double Ratio(double a, double b) =>
        b > 0 ? Math.Round(a / b, 4) : a > 0 ? Detector.RatioCap : 0;

    static RegionSideReport SideReport(Run run, int[] nodes, RegionSide side) =>
        new(nodes.Select(i => run.Operators[i].Id).ToList(), side.Ops, side.Modules, side.EnergyJ, side.GpuSeconds, side.EnergySource)
        {
            EnergySigmaJ = side.SigmaJ, DynamicEnergyJ = side.DynamicEnergyJ, EnergySources = Shares(side.SourceShares),
            ReplayEnergyJ = side.Replay?.ValueJ, CpuTimeS = side.CpuSeconds,
        };

    static FindingReport Finding(MatchSession s, Finding f, CauseReport cause)
    {
        var wasteRun = f.Wasteful == Matching.Side.A ? s.A : s.B;
        bool cpu = Cpu(s);
        double delta = cpu ? f.WastefulSeconds - f.EfficientSeconds : f.EnergyDeltaJ;
        double job = cpu ? wasteRun.Energy.IterationSeconds : wasteRun.Energy.IterationEnergyJ;
        double share = job > 0 ? delta / job : 0;
        return new FindingReport(f.Id, f.Verdict, f.Wasteful, f.Regions, f.Instances, f.EnergyDeltaJ,
            Math.Round(f.EnergyRatio, 4), Math.Round(f.TimeRatio, 4), Diagnoser.Category(cause), cause,
            cpu ? ExplainCpu(f, cause, share) : Explain(f, cause, share))
        {
            ShareOfJob = Math.Round(share, 5), Where = f.Where, EnergySource = cpu ? "none" : f.EnergySource,
            EnergyRatioInterval = [Math.Round(f.Interval.Low, 4), Math.Round(f.Interval.High, 4)],
            EnergyBasis = f.Basis, InSituEnergyRatio = f.InSituRatio is double x ? Math.Round(x, 4) : null,
            EnergySources = Shares(f.SourceShares), JobSavingJ = f.JobSavingJ, SavingBasis = f.SavingIsDynamic ? SavingBasis.Dynamic : SavingBasis.Total,
            CpuTimeDeltaS = cpu ? delta : null,
            Sites = f.Sites.Select(x => new SiteReport(x.Where, x.Regions, x.EnergyDeltaJ, x.WastefulEnergyJ, x.EfficientEnergyJ,
                wasteRun.Energy.IterationEnergyJ > 0 ? Math.Round(x.EnergyDeltaJ / wasteRun.Energy.IterationEnergyJ, 5) : 0)).ToList(),
        };
    }

    static string ExplainCpu(Finding f, CauseReport c, double share)
    {
        string side = f.Wasteful.Label();
        string inst = f.Instances == 1 ? "" : $" ({f.Instances} instances)";
        return string.Create(CultureInfo.InvariantCulture,
            $"{side} spends {(f.WastefulSeconds - f.EfficientSeconds) * 1000:F3} ms more CPU time per iteration ({share:P1} of its job, {Fmt(f.TimeRatio)}x CPU time) in {f.Where}{inst} for equivalent outputs (CPU capture: no GPU energy measured). Cause: {c.Kind.Json()}. {c.Suggestion}");
    }

    static string Explain(Finding f, CauseReport c, double share)
    {
        string side = f.Wasteful.Label();
        string other = f.Wasteful.Other().Label();
        int places = f.Sites.Count;
        string inst = f.Instances == 1 ? "" : places > 1 ? $" ({f.Instances} instances at {places} sites)" : $" ({f.Instances} instances)";
        string speed = f.Verdict switch
        {
            Verdict.Waste => $"{other} is not slower ({Fmt(f.TimeRatio)}x GPU time on {side})",
            Verdict.TradeOff => $"but {other} is slower ({Fmt(1 / f.TimeRatio)}x GPU time): a trade-off",
            _ => $"possible, below resolution: the ratio's interval [{Fmt(f.Interval.Low)}, {Fmt(f.Interval.High)}] reaches below the threshold",
        };
        string saving = f.SavingIsDynamic
            ? $"{side}'s job is host-bound, so doing what {other} does saves only the dynamic part, {f.JobSavingJ * 1000:F1} mJ per iteration"
            : $"{side}'s job is GPU-bound, so the whole difference is saved";
        return string.Create(CultureInfo.InvariantCulture,
            $"{side} spends {f.EnergyDeltaJ * 1000:F1} mJ more per iteration ({share:P1} of its job, {Fmt(f.EnergyRatio)}x energy, interval [{Fmt(f.Interval.Low)}, {Fmt(f.Interval.High)}]) in {f.Where}{inst} for equivalent outputs; {speed}; {saving}. Cause: {c.Kind.Json()}. {c.Suggestion}");
    }

    static string Fmt(double x) => x >= 100 ? x.ToString("F0", CultureInfo.InvariantCulture) : x.ToString("F2", CultureInfo.InvariantCulture);

    static IReadOnlyList<UnmatchedOperator> Unmatched(Run r, bool[] inRegion) =>
        r.Operators.Where(o => !inRegion[o.Index] && !o.IsPureView)
            .GroupBy(o => o.Op)
            .Select(g => new UnmatchedOperator(g.Key, g.Count(), g.Sum(o => o.EnergyJ)))
            .OrderByDescending(u => u.EnergyJ).ThenBy(u => u.Op, StringComparer.Ordinal)
            .ToList();

    static EnergyModelSummary EnergyModelSummary(MatchSession s) => Cpu(s)
        ? new("none (CPU capture)",
            "CPU capture: no GPU energy was measured and every energy field is 0, not a measurement. Regions and findings " +
            "are ranked by CPU time: each operator's aligned profiler range (everything it called included), averaged over " +
            "the profiler-pass iterations; verdict 'cpu-time', never 'waste'.")
        : new(
        "replay-op, replay-module, prior, timeline (check), counter",
        "Operator GPU energy = operator power x in-situ GPU time (profiler kernels, averaged over the energy-pass iterations). " +
        "Power from a long replay of the same operator signature (replay-op), else a prior calibrated on the bundle's own op replays " +
        "by kernel and in-situ duration (prior), held to the energy of replayed module calls with the same call signature (replay-module); " +
        "the energy-pass timeline residual is only a check. Each energy carries a one-sigma from its source; ratios carry a two-sigma " +
        "interval and a finding needs its low end above 1 + threshold. Idle/host energy = idle power x time the GPU ran nothing; " +
        "unexplained = measured job energy (counter updates in the uninstrumented baseline) - operators - idle/host. " +
        "closure = (operators + idle/host) / measured.");

    static List<string> CpuNotes(MatchSession s, IReadOnlyList<Finding> findings, Comparability comparability)
    {
        var (a, b) = (s.A, s.B);
        var notes = new List<string>
        {
            $"CPU capture ({(a.IsCpuCapture ? "A" : "")}{(a.IsCpuCapture && b.IsCpuCapture ? " and " : "")}{(b.IsCpuCapture ? "B" : "")}): no GPU energy was measured; energy fields are 0 and not measurements",
            string.Create(CultureInfo.InvariantCulture,
                $"ranked by CPU time per iteration (operators' aligned profiler ranges): A {a.Operators.Sum(o => o.CpuSeconds) * 1000:F3} ms of {a.Energy.IterationSeconds * 1000:F3} ms, B {b.Operators.Sum(o => o.CpuSeconds) * 1000:F3} ms of {b.Energy.IterationSeconds * 1000:F3} ms (uninstrumented baseline)"),
        };
        if (!comparability.Comparable)
            notes.Add($"not comparable: {comparability.Reason}; the two systems do not compute the same thing, so no difference is a finding");
        else if (findings.Count == 0) notes.Add("no operator-level CPU-time difference above the threshold");
        return notes;
    }

    static List<string> Notes(MatchSession s, IReadOnlyList<Finding> findings, Comparability comparability)
    {
        var notes = new List<string>();
        var (a, b) = (s.A.Energy, s.B.Energy);
        notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"whole job per iteration: A {a.IterationEnergyJ:F3} J / {a.IterationSeconds * 1000:F2} ms, B {b.IterationEnergyJ:F3} J / {b.IterationSeconds * 1000:F2} ms (measured, uninstrumented baseline counter)"));
        notes.Add(string.Create(CultureInfo.InvariantCulture,
            $"operator GPU energy: A {a.OperatorEnergyJ:F3} J ({a.ReplayShare:P0} from replay), B {b.OperatorEnergyJ:F3} J ({b.ReplayShare:P0} from replay); idle/host energy: A {a.IdleHostEnergyJ:F3} J, B {b.IdleHostEnergyJ:F3} J; unexplained: A {a.UnexplainedJ:+0.000;-0.000} +- {a.UnexplainedSigmaJ:F3} J, B {b.UnexplainedJ:+0.000;-0.000} +- {b.UnexplainedSigmaJ:F3} J; model closes at A {a.Closure:P0}, B {b.Closure:P0} of measured"));
        if (!comparability.Comparable)
            notes.Add($"not comparable: {comparability.Reason}; the two systems do not compute the same thing, so no energy difference is a waste claim");
        double jobDelta = b.IterationEnergyJ - a.IterationEnergyJ;
        double opDelta = b.OperatorEnergyJ - a.OperatorEnergyJ;
        double idleDelta = b.IdleHostEnergyJ - a.IdleHostEnergyJ;
        bool waste = findings.Any(f => f.Verdict == Verdict.Waste);
        if (Math.Abs(jobDelta) > 0.02 * Math.Max(a.IterationEnergyJ, b.IterationEnergyJ) && Math.Abs(idleDelta) > Math.Abs(opDelta))
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"the whole-job difference ({jobDelta:+0.000;-0.000} J, B - A) is mostly idle/host energy ({idleDelta:+0.000;-0.000} J) rather than operator work ({opDelta:+0.000;-0.000} J): the GPU idles between launches (host-bound), which no operator is to blame for"));
        if (!waste && comparability.Comparable)
            notes.Add("no operator-level energy waste above the threshold");
        int possible = findings.Count(f => f.Verdict == Verdict.Possible);
        if (possible > 0)
            notes.Add($"{possible} possible difference(s) below resolution: the point ratio clears the threshold, the interval's low end does not");
        foreach (var n in a.Notes) notes.Add("A: " + n);
        foreach (var n in b.Notes) notes.Add("B: " + n);
        return notes;
    }
}
