using System.Globalization;
using System.Text;
using System.Text.Json;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Runs;

namespace Magneton.Core.Rendering.Perfetto;

/// <summary>
/// A run as a Chrome trace-event JSON (what ui.perfetto.dev and chrome://tracing open), to be read next to the
/// user's own profiler trace: one iteration of the energy pass with the operators as slices and their kernels
/// below them, per-operator power and energy as counter tracks, the capture's power.csv as a counter track,
/// and, given a comparison report, its findings as instant events (and spans) on the operators of their regions.
/// </summary>
/// <remarks>
/// The run model keeps each operator's mean GPU time per iteration, not its start time, so operators are laid
/// out back to back in execution order, each as long as its GPU time (host gaps and overlap are not shown);
/// the trace's <c>otherData.layout</c> says so. Time zero is the first power.csv sample, and the operator
/// sequence starts where the energy pass began (end of its <c>mg_sync_begin</c>) on that clock, so the counters
/// of power.csv line up with the pass in which the operators ran.
/// </remarks>
public static class PerfettoTrace
{
    public const int OperatorsPid = 1, PowerPid = 2;
    public const int OperatorsTid = 1, KernelsTid = 2, FindingsTid = 3;
    public const string PowerCounter = "operator power (W)";
    public const string EnergyCounter = "operator energy (mJ)";
    public const string CumulativeCounter = "cumulative operator energy (mJ)";
    public const string TimelineCounter = "GPU power, power.csv (W)";

    public const string Layout =
        "Operators are laid out back to back in execution order, each as long as its mean GPU time per iteration of the "
        + "energy pass: the run model keeps per-operator GPU time, not start times, so host gaps and overlap between "
        + "operators are not shown. Operators that launched no GPU work are left out of the slices. Kernels are laid "
        + "out the same way inside their operator. Time zero is the first power.csv sample; the operator sequence "
        + "starts at the end of the energy pass's mg_sync_begin on that clock.";

    /// <summary>
    /// The trace of <paramref name="run"/>. With a <paramref name="report"/>, <paramref name="side"/>
    /// says which side of the report this run is; its findings become annotations.
    /// </summary>
    public static string Build(Run run, ComparisonReport? report = null, Side? side = null)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (report is not null && side is null)
            throw new ArgumentException("side must be given with a report", nameof(side));

        var power = run.Bundle.Power;
        long t0 = power.Count > 0 ? power.TimeNs[0] : 0;
        double start = 0;
        long passStart = run.Bundle.Measure.EnergyPass.SyncBeginEndNs;
        if (power.Count > 0 && passStart > t0) start = (passStart - t0) / 1000.0;

        using var stream = new MemoryStream();
        var options = new JsonWriterOptions { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        using (var w = new Utf8JsonWriter(stream, options))
        {
            w.WriteStartObject();
            w.WriteStartArray("traceEvents");

            Meta(w, "process_name", OperatorsPid, 0, $"{run.System}: operators, one energy-pass iteration");
            Meta(w, "process_sort_index", OperatorsPid, 0, null, sortIndex: 0);
            Meta(w, "thread_name", OperatorsPid, OperatorsTid, "operators");
            Meta(w, "thread_name", OperatorsPid, KernelsTid, "kernels");
            if (report is not null) Meta(w, "thread_name", OperatorsPid, FindingsTid, "findings");
            if (power.Count > 0)
            {
                Meta(w, "process_name", PowerPid, 0, $"{run.System}: power.csv");
                Meta(w, "process_sort_index", PowerPid, 0, null, sortIndex: 1);
            }

            // Operators, their kernels and the counters of their power and energy.
            var place = new (double Ts, double Dur)[run.Operators.Length];
            var (withoutGpu, cumulative) = Operators(w, run, start, place);

            // power.csv as counters, on the same clock.
            PowerCounters(w, power, t0);

            int annotated = 0;
            if (report is not null) annotated = Findings(w, run, report, side!.Value, place);

            w.WriteEndArray();
            w.WriteString("displayTimeUnit", "ms");
            OtherData(w, run, report, side, t0, withoutGpu, cumulative, annotated);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>
    /// The operators back to back from <paramref name="start"/>, each with its kernels and the counters of its power
    /// and energy; <paramref name="place"/> gets each operator's slot. Returns how many operators had no GPU time and
    /// the operators' energy.
    /// </summary>
    static (int WithoutGpu, double Cumulative) Operators(Utf8JsonWriter w, Run run, double start, (double Ts, double Dur)[] place)
    {
        double cursor = start, cumulative = 0;
        int withoutGpu = 0;
        int iterations = Math.Max(1, run.Bundle.Kineto.Iterations);
        foreach (var op in run.Operators)
        {
            double dur = op.GpuSeconds * 1e6;
            place[op.Index] = (cursor, Math.Max(0, dur));
            if (!(op.GpuSeconds > 0)) { withoutGpu++; continue; }
            OperatorEvent(w, op, cursor, dur);
            KernelEvents(w, op, cursor, iterations);
            Counter(w, PowerCounter, OperatorsPid, cursor, "W", op.PowerW);
            Counter(w, EnergyCounter, OperatorsPid, cursor, "mJ", op.EnergyJ * 1000);
            Counter(w, CumulativeCounter, OperatorsPid, cursor, "mJ", cumulative * 1000);
            cumulative += op.EnergyJ;
            cursor += dur;
        }
        // The counters end with the iteration.
        Counter(w, PowerCounter, OperatorsPid, cursor, "W", 0);
        Counter(w, EnergyCounter, OperatorsPid, cursor, "mJ", 0);
        Counter(w, CumulativeCounter, OperatorsPid, cursor, "mJ", cumulative * 1000);
        return (withoutGpu, cumulative);
    }

    /// <summary>Opens a complete event ("X") on the operators process; the caller writes its args and closes it.</summary>
    static void StartSlice(Utf8JsonWriter w, string name, string cat, double ts, double dur, int tid)
    {
        w.WriteStartObject();
        w.WriteString("name", name);
        w.WriteString("cat", cat);
        w.WriteString("ph", "X");
        Num(w, "ts", ts);
        Num(w, "dur", dur);
        Num(w, "pid", OperatorsPid);
        Num(w, "tid", tid);
    }

    static void OperatorEvent(Utf8JsonWriter w, Operator op, double cursor, double dur)
    {
        StartSlice(w, op.Op, "operator", cursor, dur, OperatorsTid);
        w.WriteStartObject("args");
        Num(w, "node", op.Id);
        w.WriteString("module", op.Module);
        Num(w, "gpu_time_us", dur);
        Num(w, "power_w", op.PowerW);
        Num(w, "energy_mj", op.EnergyJ * 1000);
        w.WriteString("energy_source", op.Source.ToString().ToLowerInvariant());
        Num(w, "kernels", op.Kernels.Count);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>An operator's kernels back to back from its start, as long as their GPU time per iteration.</summary>
    static void KernelEvents(Utf8JsonWriter w, Operator op, double cursor, int iterations)
    {
        double k = cursor;
        foreach (var kernel in op.Kernels)
        {
            double kd = kernel.Seconds * 1e6;
            if (!(kd > 0)) continue;
            StartSlice(w, ShortName(kernel.Name), kernel.Category, k, kd, KernelsTid);
            w.WriteStartObject("args");
            w.WriteString("kernel", kernel.Name);
            w.WriteString("operator", op.Op);
            Num(w, "node", op.Id);
            Num(w, "launches_per_iteration", (double)kernel.Count / iterations);
            Num(w, "gpu_time_us", kd);
            w.WriteEndObject();
            w.WriteEndObject();
            k += kd;
        }
    }

    static void PowerCounters(Utf8JsonWriter w, PowerSamples power, long t0)
    {
        for (int i = 0; i < power.Count; i++)
        {
            long inst = power.PowerInstantMw[i], avg = power.PowerAverageMw[i];
            if (inst < 0 && avg < 0) continue;
            w.WriteStartObject();
            w.WriteString("name", TimelineCounter);
            w.WriteString("ph", "C");
            Num(w, "ts", (power.TimeNs[i] - t0) / 1000.0);
            Num(w, "pid", PowerPid);
            w.WriteStartObject("args");
            if (inst >= 0) Num(w, "instant", inst / 1000.0);
            if (avg >= 0) Num(w, "average", avg / 1000.0);
            w.WriteEndObject();
            w.WriteEndObject();
        }
    }

    static void OtherData(Utf8JsonWriter w, Run run, ComparisonReport? report, Side? side, long t0, int withoutGpu,
        double cumulative, int annotated)
    {
        w.WriteStartObject("otherData");
        w.WriteString("generator", "magneton export");
        w.WriteString("system", run.System);
        w.WriteString("bundle", run.BundlePath);
        w.WriteString("layout", Layout);
        Num(w, "iterations_in_energy_pass", run.Bundle.Kineto.Iterations);
        Num(w, "operators", run.Operators.Length);
        Num(w, "operators_without_gpu_time", withoutGpu);
        Num(w, "operator_energy_mj", cumulative * 1000);
        Num(w, "iteration_energy_mj", run.Energy.IterationEnergyJ * 1000);
        w.WriteString("time_zero_unix_ns", t0.ToString(CultureInfo.InvariantCulture));
        Num(w, "power_samples", run.Bundle.Power.Count);
        if (report is not null)
        {
            w.WriteString("report_side", side!.Value.Json());
            Num(w, "findings", report.Findings.Count);
            Num(w, "finding_annotations", annotated);
        }
        w.WriteEndObject();
    }

    /// <summary>One instant event per region instance of each finding, at its first operator, and a span over its operators.</summary>
    static int Findings(Utf8JsonWriter w, Run run, ComparisonReport report, Side side, (double Ts, double Dur)[] place)
    {
        var regions = report.Regions.GroupBy(r => r.Id).ToDictionary(g => g.Key, g => g.First());
        int count = 0;
        foreach (var f in report.Findings)
        {
            string who = f.Wasteful == side ? "this run" : "the other run";
            string name = $"[{f.Id}] {f.Verdict.Json().ToUpperInvariant()} in {f.Wasteful.Label()}: {f.Where}";
            foreach (var id in f.Regions)
            {
                if (!regions.TryGetValue(id, out var region)) continue;
                var nodes = side == Side.A ? region.A.Nodes : region.B.Nodes;
                var ops = nodes.Where(run.IndexOfNode.ContainsKey).Select(n => run.IndexOfNode[n]).ToList();
                if (ops.Count == 0) continue;
                double from = ops.Min(i => place[i].Ts), to = ops.Max(i => place[i].Ts + place[i].Dur);
                void Args()
                {
                    w.WriteStartObject("args");
                    Num(w, "finding", f.Id);
                    Num(w, "region", id);
                    w.WriteString("verdict", f.Verdict.Json());
                    w.WriteString("wasteful", who);
                    w.WriteString("cause", f.Cause.Kind.Json());
                    Num(w, "energy_delta_mj", f.EnergyDeltaJ * 1000);
                    Num(w, "energy_ratio", f.EnergyRatio);
                    Num(w, "time_ratio", f.TimeRatio);
                    Num(w, "region_energy_mj", (side == Side.A ? region.A.EnergyJ : region.B.EnergyJ) * 1000);
                    w.WriteString("explanation", f.Explanation);
                    w.WriteString("suggestion", f.Cause.Suggestion);
                    w.WriteEndObject();
                }
                w.WriteStartObject();
                w.WriteString("name", name);
                w.WriteString("cat", "finding");
                w.WriteString("ph", "i");
                w.WriteString("s", "t");
                Num(w, "ts", from);
                Num(w, "pid", OperatorsPid);
                Num(w, "tid", OperatorsTid);
                Args();
                w.WriteEndObject();

                w.WriteStartObject();
                w.WriteString("name", name);
                w.WriteString("cat", "finding");
                w.WriteString("ph", "X");
                Num(w, "ts", from);
                Num(w, "dur", Math.Max(0, to - from));
                Num(w, "pid", OperatorsPid);
                Num(w, "tid", FindingsTid);
                Args();
                w.WriteEndObject();
                count++;
            }
        }
        return count;
    }

    /// <summary>A number, or null where it is not finite (JSON has no NaN).</summary>
    static void Num(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }

    static void Meta(Utf8JsonWriter w, string name, int pid, int tid, string? value, int? sortIndex = null)
    {
        w.WriteStartObject();
        w.WriteString("name", name);
        w.WriteString("ph", "M");
        Num(w, "pid", pid);
        Num(w, "tid", tid);
        w.WriteStartObject("args");
        if (value is not null) w.WriteString("name", value);
        if (sortIndex is { } s) Num(w, "sort_index", s);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    static void Counter(Utf8JsonWriter w, string name, int pid, double ts, string series, double value)
    {
        w.WriteStartObject();
        w.WriteString("name", name);
        w.WriteString("ph", "C");
        Num(w, "ts", ts);
        Num(w, "pid", pid);
        w.WriteStartObject("args");
        w.WriteNumber(series, double.IsFinite(value) ? value : 0);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>A kernel name without its return type and parameter list (the full name is in the slice's args).</summary>
    static string ShortName(string name) => Html.HtmlText.ShortKernel(name, 160);
}
