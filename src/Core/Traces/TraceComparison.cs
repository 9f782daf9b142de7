using System.Diagnostics;
using System.Globalization;
using System.Text;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;

namespace Magneton.Core.Traces;

/// <summary>Knobs of a structural comparison of two plain profiler traces.</summary>
public sealed record TraceCompareOptions
{
    /// <summary>Minimum relative GPU-time excess (slower over faster, minus one) for a finding.</summary>
    public double Threshold { get; init; } = 0.10;
    /// <summary>ProfilerStep#N to compare on both sides; null: each side's last complete step.</summary>
    public int? Step { get; init; }
    /// <summary>ProfilerStep#N of side A (over <see cref="Step"/>): two steps of one trace, or traces numbered apart.</summary>
    public int? StepA { get; init; }
    /// <summary>ProfilerStep#N of side B (over <see cref="Step"/>).</summary>
    public int? StepB { get; init; }
    /// <summary>Rank to compare on both sides; null: each side's lowest rank. A side without that rank is refused.</summary>
    public int? Rank { get; init; }
    /// <summary>A finding must differ by at least this much GPU time...</summary>
    public long MinDeltaNs { get; init; } = 5_000;
    /// <summary>...and by at least this share of the larger step's GPU time.</summary>
    public double MinDeltaShare { get; init; } = 0.01;
}

/// <summary>
/// <c>magneton compare</c> on two plain PyTorch profiler traces: a structural comparison of one step, reported in
/// the comparison report schema ("magneton.report/1") with <c>matching.mode = "structure"</c>.
/// </summary>
/// <remarks>
/// A plain trace has neither tensor values nor power readings, so this is not Magneton's differential energy
/// analysis: operators are matched by name and call-tree position (<see cref="StructureMatcher"/>), and what is
/// compared is GPU time (the durations of the kernels, copies and fills an operator launched, its children's
/// included). Every energy field of the report is NaN (written as null in the JSON), findings have the verdict
/// "slower" (never "waste", so --fail-on-waste does not fire), and the notes say both.
/// </remarks>
public static partial class TraceComparison
{
    public const Detection.Verdict Verdict = Detection.Verdict.Slower;
    public const string ValuesNote = "values were not compared: plain profiler traces carry no tensor values";
    public const string EnergyNote =
        "energy was not measured: plain profiler traces carry no power readings, so every energy field is null (not measured) and findings (verdict \"slower\") compare GPU time only";

    public static ComparisonReport Compare(string pathA, string pathB, TraceCompareOptions options, CancellationToken cancel = default)
    {
        var loadA = Task.Run(() => TraceInput.Load(pathA, cancel), cancel);
        var loadB = Task.Run(() => TraceInput.Load(pathB, cancel), cancel);
        try
        {
            Task.WaitAll([loadA, loadB], cancel);
        }
        catch (AggregateException)
        {
            // Name the first side that failed, A before B.
            if (loadA.Exception?.InnerException is { } ea) throw ea;
            if (loadB.Exception?.InnerException is { } eb) throw eb;
            throw;
        }
        return Compare(loadA.Result, loadB.Result, options);
    }

    public static ComparisonReport Compare(TraceInput inputA, TraceInput inputB, TraceCompareOptions options)
    {
        var sw = Stopwatch.StartNew();
        var notes = new List<string> { ValuesNote, EnergyNote };
        var a = Side.Pick(inputA, options, "A", notes);
        var b = Side.Pick(inputB, options, "B", notes);
        Side.NameApart(a, b);

        var matcher = new StructureMatcher(a.Index, b.Index);
        matcher.Match(a.Roots, b.Roots);
        double elapsed = sw.Elapsed.TotalMilliseconds;

        return new Builder(a, b, matcher, options, notes, elapsed).Build();
    }

    private sealed class Builder(Side a, Side b, StructureMatcher m, TraceCompareOptions options, List<string> notes, double elapsedMs)
    {
        private readonly List<RegionReport> _regions = new();
        private readonly Dictionary<(int A, int B), int> _regionIds = new();

        private sealed record Candidate(int A, int B, long GpuA, long GpuB)
        {
            public long Delta => GpuB - GpuA;
            public Matching.Side Slower => GpuB > GpuA ? Matching.Side.B : Matching.Side.A;
        }

        public ComparisonReport Build()
        {
            var ci = CultureInfo.InvariantCulture;
            int matchedA = a.Nodes.Count(n => m.PartnerOfA(n) >= 0);
            int matchedB = b.Nodes.Count(n => m.PartnerOfB(n) >= 0);

            // Regions: the matched top-level operators of the step, then whatever the findings need.
            foreach (int root in a.Roots)
                if (m.PartnerOfA(root) is var p && p >= 0) RegionId(root, p);

            // Without GPU activity on a side (a CUPTI range-profiler trace, a CPU-only trace) there is no GPU time to compare.
            var silent = new[] { a, b }.Where(s => s.GpuNs == 0 && s.Index.Trace.Events.Length > 0).Select(s => s.Label).ToList();
            var findings = silent.Count == 0 ? Findings() : [];
            foreach (var label in silent)
                notes.Add($"{label} records no GPU activity (kernels, copies, fills) in its step, so GPU time was not compared");

            notes.Add(string.Create(ci,
                $"matched structurally (operator names and call-tree position) in A {a.Step.Name} and B {b.Step.Name}, rank {a.Rank.Rank} and {b.Rank.Rank}: {matchedA} of {a.Nodes.Count} operators of A, {matchedB} of {b.Nodes.Count} of B"));
            notes.Add(string.Create(ci,
                $"step GPU time: A {Ms(a.GpuNs)} ms ({a.Kernels} kernels), B {Ms(b.GpuNs)} ms ({b.Kernels} kernels); step wall time: A {Ms(a.Step.Duration)} ms, B {Ms(b.Step.Duration)} ms"));
            AddOneSideNote(a, n => m.PartnerOfA(n) < 0);
            AddOneSideNote(b, n => m.PartnerOfB(n) < 0);
            if (a.Step.Number != b.Step.Number && a.Step.Number >= 0 && b.Step.Number >= 0)
                notes.Add($"the sides' steps differ: A {a.Step.Name}, B {b.Step.Name}");
            if (findings.Count == 0 && silent.Count == 0)
                notes.Add(string.Create(ci, $"no matched operator differs in GPU time by more than {options.Threshold:P0} and {MinDelta() / 1000.0:F0} us"));

            var unmatched = new UnmatchedReport(Unmatched(a, n => m.PartnerOfA(n) < 0), Unmatched(b, n => m.PartnerOfB(n) < 0));
            var matching = new MatchingSummary(_regions.Count, 0, Coverage(matchedA, a.Nodes.Count), Coverage(matchedB, b.Nodes.Count),
                Math.Round(elapsedMs, 2)) { Mode = MatchMode.Structure };
            var energyModel = new EnergyModelSummary("none",
                "Plain profiler traces carry no power or energy readings: no energy is reported (energy fields are null). Regions and " +
                "findings compare GPU time: the summed durations of the kernels, copies and fills an operator launched (its children's " +
                "included), linked to it by correlation id, within the compared step.");
            return new ComparisonReport(ComparisonReport.SchemaName, RunSide(a), RunSide(b), matching, energyModel, _regions,
                findings, unmatched, notes) { Threshold = options.Threshold };
        }

        private long MinDelta() => Math.Max(options.MinDeltaNs, (long)(options.MinDeltaShare * Math.Max(a.GpuNs, b.GpuNs)));

        private void AddOneSideNote(Side s, Func<int, bool> unmatched)
        {
            var only = s.Nodes.Where(unmatched).ToList();
            if (only.Count == 0) return;
            // Count an unmatched subtree once: its top-most unmatched node carries its children's GPU time.
            long gpu = only.Where(n => s.RootSet.Contains(n) || s.Index.NodeParent[n] < 0 || !unmatched(s.Index.NodeParent[n]))
                .Sum(s.Inclusive);
            var top = only.GroupBy(s.Name).Select(g => (Name: g.Key, Count: g.Count())).OrderByDescending(x => x.Count)
                .ThenBy(x => x.Name, StringComparer.Ordinal).Take(5);
            notes.Add(string.Create(CultureInfo.InvariantCulture,
                $"{s.Label}-only operators: {only.Count}, {Ms(gpu)} ms of GPU time ({string.Join(", ", top.Select(t => $"{t.Name} x{t.Count}"))})"));
        }

        /// <summary>
        /// Matched pairs whose GPU time differs beyond the threshold, deepest first: a pair is reported unless findings
        /// below it already account for at least half of its difference. Pairs at the same place (same operator path)
        /// with the same slower side and cause become one finding with their instance count.
        /// </summary>
        private List<FindingReport> Findings()
        {
            long minDelta = MinDelta();
            var reported = new List<Candidate>();
            foreach (int root in a.Roots) Visit(root, minDelta, reported);

            var groups = reported
                .Select(c => (Candidate: c, Cause: Cause(c), Where: Where(c)))
                .GroupBy(x => (x.Where, x.Candidate.Slower, x.Cause.Kind))
                .Select(g => g.ToList())
                .OrderByDescending(g => Math.Abs(g.Sum(x => x.Candidate.Delta)))
                .ToList();
            var findings = new List<FindingReport>();
            foreach (var g in groups)
            {
                var first = g[0];
                var slower = first.Candidate.Slower;
                long slow = g.Sum(x => slower == Matching.Side.B ? x.Candidate.GpuB : x.Candidate.GpuA);
                long fast = g.Sum(x => slower == Matching.Side.B ? x.Candidate.GpuA : x.Candidate.GpuB);
                double ratio = fast > 0 ? Math.Round((double)slow / fast, 4) : Detection.Detector.RatioCap;
                var regions = g.Select(x => RegionId(x.Candidate.A, x.Candidate.B)).ToList();
                long stepGpu = slower == Matching.Side.B ? b.GpuNs : a.GpuNs;
                int id = findings.Count + 1;
                var cause = first.Cause;
                string side = slower.Label();
                string inst = g.Count == 1 ? "" : $" ({g.Count} instances)";
                string explanation = string.Create(CultureInfo.InvariantCulture,
                    $"{side} takes {Ms(slow - fast)} ms more GPU time in {first.Where}{inst}: {Ms(slow)} ms against {Ms(fast)} ms ({Fmt(ratio)}x), " +
                    $"{Share(slow - fast, stepGpu)} of {side}'s step GPU time. Time only: energy was not measured, values were not compared. " +
                    $"Cause: {cause.Kind.Json()}. {cause.Suggestion}");
                findings.Add(new FindingReport(id, Verdict, slower, regions, g.Count, double.NaN, double.NaN, ratio, "unknown", cause, explanation)
                {
                    ShareOfJob = double.NaN,
                    Where = first.Where,
                    EnergySource = "none (GPU time only)",
                });
            }
            return findings;
        }

        /// <summary>Returns the signed GPU-time difference (B - A) already explained by findings in this subtree.</summary>
        private long Visit(int x, long minDelta, List<Candidate> reported)
        {
            long explained = 0;
            foreach (int c in a.Index.Children(x)) explained += Visit(c, minDelta, reported);
            int y = m.PartnerOfA(x);
            if (y < 0) return explained;
            var candidate = new Candidate(x, y, a.Inclusive(x), b.Inclusive(y));
            long delta = candidate.Delta;
            long slow = Math.Max(candidate.GpuA, candidate.GpuB), fast = Math.Min(candidate.GpuA, candidate.GpuB);
            bool differs = Math.Abs(delta) >= minDelta && slow >= fast * (1 + options.Threshold);
            if (!differs) return explained;
            if (Math.Sign(explained) == Math.Sign(delta) && Math.Abs(explained) * 2 >= Math.Abs(delta)) return explained;
            reported.Add(candidate);
            return delta;
        }

        private CauseReport Cause(Candidate c)
        {
            var ka = a.KernelsUnder(c.A);
            var kb = b.KernelsUnder(c.B);
            // Operators only one side runs make another combination when they do GPU work; views and bookkeeping that
            // launch nothing (an extra transpose view around an attention kernel) leave the work to the matched
            // operators' kernels, which then decide.
            var extraA = a.Subtree(c.A).Where(n => m.PartnerOfA(n) < 0 && a.Inclusive(n) > 0).ToList();
            var extraB = b.Subtree(c.B).Where(n => m.PartnerOfB(n) < 0 && b.Inclusive(n) > 0).ToList();
            bool opsDiffer = extraA.Count > 0 || extraB.Count > 0;
            bool kernelsDiffer = ka.Count > 0 && kb.Count > 0
                                 && !ka.Select(k => k.Name).ToHashSet(StringComparer.Ordinal).SetEquals(kb.Select(k => k.Name));
            bool fastIsIdle = (c.GpuB > c.GpuA ? ka : kb).Count == 0;
            var opsA = a.Subtree(c.A).Select(a.Name).Distinct().ToList();
            var opsB = b.Subtree(c.B).Select(b.Name).Distinct().ToList();
            bool bSlower = c.GpuB > c.GpuA;
            string slowSide = bSlower ? "B" : "A", fastSide = bSlower ? "A" : "B";
            CauseKind kind;
            string suggestion;
            if (opsDiffer)
            {
                kind = CauseKind.OperatorSet;
                var onlySlow = (bSlower ? extraB.Select(b.Name) : extraA.Select(a.Name)).Distinct().Take(4).ToList();
                suggestion = onlySlow.Count > 0
                    ? $"{slowSide} runs operators here that {fastSide} does not ({string.Join(", ", onlySlow)}); {fastSide}'s combination takes less GPU time."
                    : $"{fastSide} runs fewer or different operators here and takes less GPU time.";
            }
            else if (kernelsDiffer)
            {
                kind = CauseKind.KernelChoice;
                var (slowK, fastK) = bSlower ? (kb, ka) : (ka, kb);
                static string Only(List<(string Name, long Ns)> mine, List<(string Name, long Ns)> theirs)
                {
                    var other = theirs.Select(k => k.Name).ToHashSet(StringComparer.Ordinal);
                    return string.Join(", ", mine.Select(k => k.Name).Where(k => !other.Contains(k)).Distinct().Take(2));
                }
                suggestion = $"The same operators launch different kernels: {slowSide} runs {Only(slowK, fastK)} where {fastSide} runs {Only(fastK, slowK)}; " +
                             $"check what selects {fastSide}'s kernels (dtypes, shapes, TF32/cuDNN/SDPA flags, library versions).";
            }
            else if (fastIsIdle)
            {
                kind = CauseKind.Time;
                suggestion = $"The same operators, but {fastSide}'s trace records no GPU work for them (not launched, or its activities were not traced).";
            }
            else
            {
                kind = CauseKind.Time;
                suggestion = $"The same operators launch the same kernels, and {slowSide}'s run longer: compare input shapes, clocks and concurrent work.";
            }
            const int keep = 6;
            return new CauseReport(kind, [],
                new PerSide<string>(ka.Take(keep).Select(k => k.Name).ToList(), kb.Take(keep).Select(k => k.Name).ToList()),
                new PerSide<string>([], []), new PerSide<string>([], []), new PerSide<string>([], []))
            {
                EfficientOps = bSlower ? opsA : opsB,
                Suggestion = suggestion,
            };
        }

        private string Where(Candidate c)
        {
            var path = a.PathTo(c.A);
            return path.Count <= 4 ? string.Join(" > ", path) : "... > " + string.Join(" > ", path.Skip(path.Count - 4));
        }

        private int RegionId(int x, int y)
        {
            if (_regionIds.TryGetValue((x, y), out int id)) return id;
            id = _regions.Count + 1;
            _regionIds[(x, y)] = id;
            long ga = a.Inclusive(x), gb = b.Inclusive(y);
            double timeRatio = gb > 0 ? Math.Round((double)ga / gb, 4) : ga > 0 ? Detection.Detector.RatioCap : 0;
            _regions.Add(new RegionReport(id, double.NaN, timeRatio, SideReport(a, x), SideReport(b, y)));
            return id;
        }

        private static RegionSideReport SideReport(Side s, int node)
        {
            var ops = s.Subtree(node).Select(s.Name).Distinct().ToList();
            return new RegionSideReport([node], ops, [], double.NaN, s.Inclusive(node) / 1e9, "none");
        }

        private static IReadOnlyList<UnmatchedOperator> Unmatched(Side s, Func<int, bool> unmatched) =>
            s.Nodes.Where(unmatched)
                .GroupBy(s.Name)
                .Select(g => new UnmatchedOperator(g.Key, g.Count(), double.NaN))
                .OrderByDescending(u => u.Count).ThenBy(u => u.Op, StringComparer.Ordinal)
                .ToList();

        private static RunSide RunSide(Side s) =>
            new(s.System, s.Input.Path, s.Nodes.Count, double.NaN, s.GpuNs / 1e9, double.NaN, s.Step.Duration / 1e9, double.NaN)
            {
                ReplayShare = double.NaN, Closure = double.NaN, IdlePowerW = double.NaN, TimelinePowerW = double.NaN,
            };

        private static double Coverage(int matched, int total) => total == 0 ? 1 : Math.Round((double)matched / total, 4);
    }

    internal static string Ms(long ns) => (ns / 1e6).ToString("0.###", CultureInfo.InvariantCulture);

    private static string Fmt(double x) => x >= 100 ? x.ToString("F0", CultureInfo.InvariantCulture) : x.ToString("F2", CultureInfo.InvariantCulture);

    private static string Share(long part, long whole) =>
        whole > 0 ? ((double)part / whole).ToString("P1", CultureInfo.InvariantCulture) : "n/a";

    /// <summary>A kernel name clipped to show where it differs from the most similar kernel of the other side.</summary>
    private static string Distinctive(string kernel, IReadOnlyList<string> others)
    {
        int common = others.Count == 0 ? 0 : others.Max(o => kernel.AsSpan().CommonPrefixLength(o));
        var shown = common > 60 ? "..." + kernel[(common - 30)..] : kernel;
        return TraceInspector.Clip(shown, 110);
    }

    /// <summary>The terminal summary of a structural comparison: what was compared, findings, one-side operators.</summary>
    public static string Render(ComparisonReport r, int maxFindings = 5, int maxUnmatched = 8)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(ci, $"Magneton (structural comparison of profiler traces): A = {r.A.System}, B = {r.B.System}");
        sb.AppendLine("Values were not compared and energy was not measured (plain profiler traces carry neither): GPU time only.");
        string? idle = r.A.GpuTimeS == 0 ? "A" : r.B.GpuTimeS == 0 ? "B" : null;
        sb.AppendLine(idle is not null && r.Findings.Count == 0
            ? $"VERDICT: GPU time not compared: {idle} records no GPU activity in its step"
            : r.Findings.Count == 0
            ? "VERDICT: no matched operator differs in GPU time above the threshold"
            : $"VERDICT: {r.Findings.Count} place{(r.Findings.Count == 1 ? "" : "s")} where one side takes more GPU time (time only, not energy)");
        sb.AppendLine();
        foreach (var f in r.Findings.Take(maxFindings))
        {
            string side = f.Wasteful.Label();
            sb.AppendLine(ci, $"[{f.Id}] SLOWER in {side}: {f.Where}  ({f.Instances}x)");
            sb.AppendLine(ci, $"    {Fmt(f.TimeRatio)}x GPU time");
            sb.AppendLine(ci, $"    why: {f.Cause.Kind.Json()}");
            if (f.Cause.Kind is CauseKind.KernelChoice)
            {
                foreach (var k in f.Cause.Kernels.A.Where(k => !f.Cause.Kernels.B.Contains(k)).Take(2)) sb.AppendLine(ci, $"    A kernel: {Distinctive(k, f.Cause.Kernels.B)}");
                foreach (var k in f.Cause.Kernels.B.Where(k => !f.Cause.Kernels.A.Contains(k)).Take(2)) sb.AppendLine(ci, $"    B kernel: {Distinctive(k, f.Cause.Kernels.A)}");
            }
            sb.AppendLine(ci, $"    {TraceInspector.Clip(f.Explanation, 400)}");
            sb.AppendLine();
        }
        if (r.Findings.Count > maxFindings) sb.AppendLine(ci, $"... {r.Findings.Count - maxFindings} more findings in --json");

        void OneSide(string label, IReadOnlyList<UnmatchedOperator> ops)
        {
            if (ops.Count == 0)
            {
                sb.AppendLine(ci, $"  {label} only: none");
                return;
            }
            var shown = ops.Take(maxUnmatched).Select(u => $"{u.Op} x{u.Count}");
            sb.AppendLine(ci, $"  {label} only: {string.Join(", ", shown)}{(ops.Count > maxUnmatched ? $", ... ({ops.Count - maxUnmatched} more)" : "")}");
        }
        sb.AppendLine("Operators on one side only (unmatched):");
        OneSide("A", r.Unmatched.A);
        OneSide("B", r.Unmatched.B);
        sb.AppendLine(ci, $"Step                      {"A",12} {"B",12}");
        sb.AppendLine(ci, $"  wall time (ms)          {r.A.IterationTimeS * 1000,12:F3} {r.B.IterationTimeS * 1000,12:F3}");
        sb.AppendLine(ci, $"  GPU time (ms)           {r.A.GpuTimeS * 1000,12:F3} {r.B.GpuTimeS * 1000,12:F3}");
        sb.AppendLine(ci, $"  operators               {r.A.Operators,12} {r.B.Operators,12}");
        sb.AppendLine(ci, $"Matching: structure, {r.Matching.Regions} regions, coverage A {r.Matching.ACoverage:P0} B {r.Matching.BCoverage:P0}, {r.Matching.ElapsedMs:F0} ms");
        foreach (var n in r.Notes.Skip(2)) sb.AppendLine("note: " + n);
        return sb.ToString();
    }
}
