using System.Text;
using Magneton.Core.Bundles;
using Magneton.Core.Runs;

namespace Magneton.Core.Energy;

/// <summary>
/// Operator GPU energy = operator power x in-situ GPU time, each with its uncertainty and its source. NVML's 100 ms
/// counter cannot see a 10 us kernel, so power comes from long replays:
/// <list type="bullet">
/// <item>replay-op: a replay of the same operator signature (power transfers between same-signature calls within ~1%);</item>
/// <item>prior: for operators without one, a power prior calibrated on the bundle's own op replays (kernel class, kernel,
/// in-situ duration), with the spread it shows predicting those replays;</item>
/// <item>replay-module: a replayed module call holds the operators of that call, and of calls with the same call
/// signature, to its measured energy: the operators without an op replay share the difference in proportion to their
/// variance (a least-squares update of the prior), so the module's total is the replayed one;</item>
/// <item>timeline: the energy-pass counter less idle and replayed energy, shared by GPU time. Only a check, and the
/// source of last resort for a bundle without op replays.</item>
/// </list>
/// Raw average power over an instrumented pass is never compared across runs: the two passes idle differently.
/// </summary>
public static class EnergyModel
{
    const double MaxPlausiblePowerW = 1200;
    /// <summary>Relative one-sigma of timeline power: the audit found it off by 37% on average, 336% at worst.</summary>
    const double TimelineSigma = 0.5;

    /// <summary>Per-operator estimates of one model run; <see cref="Apply"/> writes them onto the operators.</summary>
    internal sealed record Estimates(
        double[] PowerW, double[] SigmaJ, EnergySource[] Source, double IdlePowerW, double TimelinePowerW,
        List<ReplayedCall> Calls, List<string> Notes, PowerPrior Prior, Balance Balance)
    {
        public double EnergyJ(Run run, int op) => PowerW[op] * run.Operators[op].GpuSeconds;
    }

    public static RunEnergy Apply(Run run)
    {
        // A CPU capture measured no energy: nothing to attribute, and no number may pass for a measurement.
        if (run.IsCpuCapture)
            return new RunEnergy(0, run.Bundle.Measure.Baseline.IterSeconds, 0, 0, 0, 0, 0, 0, null,
                ["CPU capture: no GPU energy was measured"]);
        var keys = OperatorKeys.Of(run);
        var est = Estimate(run, keys, leftOut: -1);
        var notes = est.Notes;
        double idle = est.IdlePowerW;
        foreach (var op in run.Operators)
        {
            op.PowerW = est.PowerW[op.Index];
            op.Source = est.Source[op.Index];
            op.EnergySigmaJ = est.SigmaJ[op.Index];
            op.DynamicEnergyJ = Math.Max(0, op.PowerW - idle) * op.GpuSeconds;
        }

        double opEnergy = 0, opVar = 0, dynamic = 0, gpu = 0;
        var bySource = new Dictionary<EnergySource, double>();
        foreach (var op in run.Operators)
        {
            if (op.GpuSeconds <= 0) continue;
            opEnergy += op.EnergyJ;
            opVar += op.EnergySigmaJ * op.EnergySigmaJ;
            dynamic += op.DynamicEnergyJ;
            gpu += op.GpuSeconds;
            bySource[op.Source] = bySource.GetValueOrDefault(op.Source) + op.EnergyJ;
        }
        var shares = EnergySources.Measured.ToDictionary(s => s, s => opEnergy > 0 ? bySource.GetValueOrDefault(s) / opEnergy : 0);

        var bal = est.Balance;
        var job = bal.Job;
        double busy = bal.BusySeconds, gap = bal.GapSeconds, iter = run.Bundle.Measure.Baseline.IterSeconds;
        double idleHost = bal.IdleHostJ, idleHostSigma = bal.IdleHostSigmaJ;
        double unexplained = job.ValueJ - opEnergy - idleHost;
        double unexplainedSigma = Math.Sqrt(job.SigmaJ * job.SigmaJ + opVar + idleHostSigma * idleHostSigma);
        double closure = job.ValueJ > 0 ? (opEnergy + idleHost) / job.ValueJ : double.NaN;
        if (Math.Abs(unexplained) > RatioInterval.Z * unexplainedSigma && job.ValueJ > 0)
            notes.Add(FormattableString.Invariant(
                $"unexplained energy {unexplained:+0.000;-0.000} J per iteration ({unexplained / job.ValueJ:+0.0%;-0.0%} of measured) exceeds its uncertainty (+-{RatioInterval.Z * unexplainedSigma:F3} J): ") +
                (unexplained > 0
                    ? "the GPU draws more than idle power between launches (it stays clocked in short gaps), or runs work no operator range covers"
                    : "operators drew less in situ than in replay (in a sparse, host-bound loop clocks ramp down between launches), the energy pass ran in a power-limiter transient that the settled baseline does not have, or the idle window was measured warmer than the job's gaps"));

        var checks = ReplayChecks(run, keys, notes, out double? maxError);
        return new RunEnergy(job.ValueJ, iter, opEnergy, gpu, idle, est.TimelinePowerW,
            shares[EnergySource.ReplayOp] + shares[EnergySource.ReplayModule], closure, maxError, notes)
        {
            IterationEnergySigmaJ = job.SigmaJ,
            IterationCounterUpdates = job.Updates,
            OperatorEnergySigmaJ = Math.Sqrt(opVar),
            DynamicEnergyJ = dynamic,
            GpuBusySeconds = busy,
            GapSeconds = gap,
            GapPowerW = idle,
            IdleHostEnergyJ = idleHost,
            IdleHostSigmaJ = idleHostSigma,
            UnexplainedJ = unexplained,
            UnexplainedSigmaJ = unexplainedSigma,
            SourceShares = shares,
            ReplayChecks = checks,
            ReplayedCalls = est.Calls,
        };
    }

    /// <summary>
    /// What makes two calls of an operator cost the same per second: the op, its tensor inputs' shapes,
    /// dtypes and strides, and its non-tensor arguments. Flags are per bundle, so they are constant here.
    /// </summary>
    public static string Signature(Run run, Operator op)
    {
        var sb = new StringBuilder(op.Op).Append('|').Append(op.Node.Args);
        foreach (var v in op.Node.In)
        {
            var val = run.Values[v];
            sb.Append('|').Append(val.Dtype).Append('[').AppendJoin(',', val.Shape).Append("]s[")
              .AppendJoin(',', val.Stride).Append(']');
        }
        return sb.ToString();
    }

    /// <summary>What the model reads of each operator that does not depend on which replays it uses.</summary>
    internal sealed record OperatorKeys(string[] Signatures, KernelClass[] Classes, string[] Kernels)
    {
        public static OperatorKeys Of(Run run)
        {
            var (classes, kernels) = KernelClasses.OfAll(run);
            return new OperatorKeys(EnergyModel.Signatures(run), classes, kernels);
        }
    }

    internal static string[] Signatures(Run run)
    {
        var s = new string[run.Operators.Length];
        foreach (var op in run.Operators) s[op.Index] = op.IsPureView ? "" : Signature(run, op);
        return s;
    }

    /// <summary>The model with replay item <paramref name="leftOut"/> (index into replay.json items) ignored; -1 keeps all.</summary>
    internal static Estimates Estimate(Run run, OperatorKeys keys, int leftOut)
    {
        var signatures = keys.Signatures;
        var b = run.Bundle;
        var notes = new List<string>();
        double idle = IdlePower(b, notes);
        var ops = run.Operators;
        int n = ops.Length;
        var power = new double[n];
        var sigma = new double[n];
        var source = new EnergySource[n];
        var items = b.Replay?.Items ?? [];
        var counter = b.ReplayCounter;
        if (b.Replay is null) notes.Add("no replay.json: operator power from the energy-pass timeline (uncertain by ~50%)");

        // Op replays by signature, the prior's calibration points and the in-situ vs replay time pairs.
        var opReplay = new Dictionary<string, (double PowerW, double Rel)>(StringComparer.Ordinal);
        var points = new List<PriorPoint>();
        var timePairs = new List<(double, double)>();
        for (int j = 0; j < items.Count; j++)
        {
            var item = items[j];
            if (j == leftOut || item.Kind != "op" || item.Node is not int node || item.Error is not null) continue;
            if (!run.IndexOfNode.TryGetValue(node, out var idx)) continue;
            if (ItemPower(item, counter) is not { } w) continue;
            var op = ops[idx];
            opReplay.TryAdd(signatures[idx], w);
            if (op.GpuSeconds <= 0) continue;
            points.Add(new PriorPoint(keys.Classes[idx], keys.Kernels[idx], op.Op, op.GpuSeconds, w.PowerW));
            if (item.CallUs > 0) timePairs.Add((op.GpuSeconds, item.CallUs * 1e-6));
        }
        var prior = new PowerPrior(points);
        var transfer = new TimeTransfer(timePairs);

        double replayedEnergy = 0, restGpu = 0;
        for (int i = 0; i < n; i++)
        {
            var op = ops[i];
            if (op.GpuSeconds <= 0) continue;
            double t = op.GpuSeconds;
            if (opReplay.TryGetValue(signatures[i], out var r))
            {
                power[i] = r.PowerW;
                source[i] = EnergySource.ReplayOp;
                sigma[i] = power[i] * t * Hypot(r.Rel, TimeTransfer.ReplayRepeatability, transfer.RelativeSigma(t));
                replayedEnergy += power[i] * t;
            }
            else if (prior.IsCalibrated)
            {
                power[i] = Math.Clamp(prior.Predict(keys.Classes[i], keys.Kernels[i], op.Op, t), idle, MaxPlausiblePowerW);
                source[i] = EnergySource.Prior;
                sigma[i] = power[i] * t * Hypot(prior.RelativeSigma, transfer.RelativeSigma(t));
                restGpu += t;
            }
            else restGpu += t;
        }

        double timeline = TimelinePower(b, idle, replayedEnergy, restGpu, notes, fallback: !prior.IsCalibrated);
        if (!prior.IsCalibrated)
            for (int i = 0; i < n; i++)
            {
                if (ops[i].GpuSeconds <= 0 || source[i] != EnergySource.None) continue;
                power[i] = timeline;
                source[i] = EnergySource.Timeline;
                sigma[i] = timeline * ops[i].GpuSeconds * TimelineSigma;
            }

        var calls = HoldToModuleReplays(run, signatures, items, counter, leftOut, transfer, idle, power, sigma, source);
        var balance = Balance.Of(b, idle, notes);
        HoldToJobEnergy(run, balance, idle, power, sigma, source);
        return new Estimates(power, sigma, source, idle, timeline, calls, notes, prior, balance);
    }

    /// <summary>The job's terms that do not depend on operator power: measured energy, gap time and gap energy.</summary>
    internal sealed record Balance(JobEstimate Job, double BusySeconds, double GapSeconds, double IdleHostJ, double IdleHostSigmaJ)
    {
        public static Balance Of(Bundle b, double idle, List<string> notes)
        {
            var job = JobEnergy.Measure(b, notes);
            double busy = b.Kineto.GpuBusySeconds / Math.Max(1, b.Kineto.Iterations);
            double gap = Math.Max(0, b.Measure.Baseline.IterSeconds - busy);
            // Between launches the GPU draws at least its idle power; right after a kernel it may stay clocked
            // higher, which shows as a positive unexplained rest rather than being guessed here.
            return new Balance(job, busy, gap, idle * gap, IdleSigma(b, idle) * gap);
        }
    }

    /// <summary>
    /// The measured job energy is a measurement of the operators' total too (less idle/host): the operators whose
    /// power is only a prior take the difference in proportion to their variance, as they do for a module replay.
    /// A job whose prior operators are few cannot absorb much, and what is left stays in unexplained.
    /// </summary>
    static void HoldToJobEnergy(Run run, Balance balance, double idle, double[] power, double[] sigma, EnergySource[] source)
    {
        if (!(balance.Job.ValueJ > 0)) return;
        var ops = run.Operators;
        double measured = balance.Job.ValueJ - balance.IdleHostJ;
        double measuredVar = Square(balance.Job.SigmaJ) + Square(balance.IdleHostSigmaJ);
        double free = 0, freeVar = 0;
        for (int i = 0; i < ops.Length; i++)
        {
            if (ops[i].GpuSeconds <= 0) continue;
            double e = power[i] * ops[i].GpuSeconds;
            if (source[i] is EnergySource.Prior or EnergySource.Timeline) { free += e; freeVar += Square(sigma[i]); }
            else { measured -= e; measuredVar += Square(sigma[i]); }
        }
        if (freeVar <= 0) return;
        double gain = (measured - free) / (freeVar + measuredVar);
        for (int i = 0; i < ops.Length; i++)
        {
            double ti = ops[i].GpuSeconds;
            if (ti <= 0 || source[i] is not (EnergySource.Prior or EnergySource.Timeline)) continue;
            double v = Square(sigma[i]);
            power[i] = Math.Min(MaxPlausiblePowerW, Math.Max(idle, power[i] + v * gain / ti));
            sigma[i] = Math.Sqrt(Math.Max(v - v * v / (freeVar + measuredVar), 0));
        }
    }

    /// <summary>
    /// Each replayed module call (innermost first) and its signature twins: the replayed power x the call's in-situ
    /// GPU time is a measurement of the call's total, so the operators without an op replay take the difference
    /// between it and the sum of their estimates, each in proportion to its variance (least squares), and their
    /// variance shrinks accordingly.
    /// </summary>
    static List<ReplayedCall> HoldToModuleReplays(Run run, string[] signatures, IReadOnlyList<ReplayItem> items,
        PowerSamples? counter, int leftOut, TimeTransfer transfer, double idle, double[] power, double[] sigma, EnergySource[] source)
    {
        var result = new List<ReplayedCall>();
        var ops = run.Operators;
        var modules = Enumerable.Range(0, items.Count)
            .Where(j => j != leftOut && items[j].Kind == "module" && items[j].Error is null && items[j].Module is not null)
            .OrderByDescending(j => items[j].Module!.Count(c => c == '.')).ThenBy(j => j);
        foreach (int j in modules)
        {
            var item = items[j];
            if (ItemPower(item, counter) is not { } w) continue;
            double replayJ = ReplayCallEnergyJ(item, w.PowerW);
            double replayRel = Hypot(w.Rel, TimeTransfer.ReplayRepeatability);
            foreach (var (module, callOps) in ModuleCalls.ReplayedAndTwins(run, item.Module!, signatures))
            {
                double t = callOps.Sum(i => ops[i].GpuSeconds);
                if (t <= 0) continue;
                double measured = w.PowerW * t;
                double measuredVar = Square(measured * Hypot(replayRel, transfer.RelativeSigma(t)));
                double free = 0, freeVar = 0;
                foreach (var i in callOps)
                {
                    if (ops[i].GpuSeconds <= 0) continue;
                    double e = power[i] * ops[i].GpuSeconds;
                    if (source[i] == EnergySource.ReplayOp) { measured -= e; measuredVar += Square(sigma[i]); }
                    else { free += e; freeVar += Square(sigma[i]); }
                }
                result.Add(new ReplayedCall(module, item.Module!, callOps, replayJ, replayJ * replayRel, w.PowerW * t));
                if (freeVar <= 0) continue;
                double gain = (measured - free) / (freeVar + measuredVar);
                foreach (var i in callOps)
                {
                    double ti = ops[i].GpuSeconds;
                    if (ti <= 0 || source[i] == EnergySource.ReplayOp) continue;
                    double v = Square(sigma[i]);
                    double e = Math.Max(idle * ti, power[i] * ti + v * gain);
                    power[i] = e / ti;
                    sigma[i] = Math.Sqrt(Math.Max(v - v * v / (freeVar + measuredVar), 0));
                    source[i] = EnergySource.ReplayModule;
                }
            }
        }
        return result;
    }

    /// <summary>Replayed energy per call: replayed power over the window, shared by the calls in it.</summary>
    internal static double ReplayCallEnergyJ(ReplayItem item, double powerW) =>
        item.Calls > 0 ? powerW * (item.WindowEndNs - item.WindowStartNs) / 1e9 / item.Calls
        : item.CallEnergyMj is double mj ? mj / 1000 : double.NaN;

    /// <summary>
    /// A replay window's power, recomputed from the raw counter where replay_counter.csv is present (the same rule as
    /// the capture), with its relative error from the counter's sampling; null when the window has no usable power.
    /// </summary>
    internal static (double PowerW, double Rel)? ItemPower(ReplayItem item, PowerSamples? counter)
    {
        if (counter is not null)
        {
            var w = CounterWindow.Measure(counter, item.WindowStartNs, item.WindowEndNs);
            if (w.IsValid && w.PowerW > 0) return (w.PowerW, w.RelativeSigma);
        }
        if (item.PowerW is double p && double.IsFinite(p) && p > 0)
        {
            // Without the raw counter, the window's span is known only to its update period.
            double span = (item.WindowEndNs - item.WindowStartNs) / 1e9;
            return (p, span > 0 ? JobEnergy.DefaultUpdateSeconds / span : 0.1);
        }
        return null;
    }

    /// <summary>
    /// Op items: the replayed energy per call against the model's energy of that call with its own replay (replay power x
    /// in-situ time: how far in-situ execution differs). Module items: the replayed module call against the sum of its
    /// operators as the model gives them without that module replay (op replays and prior): how well the operator model
    /// predicts a measured whole. Neither is replay.json recomputed against itself.
    /// </summary>
    static List<ReplayCheck> ReplayChecks(Run run, OperatorKeys keys, List<string> notes, out double? maxError)
    {
        var signatures = keys.Signatures;
        var checks = new List<ReplayCheck>();
        maxError = null;
        var items = run.Bundle.Replay?.Items ?? [];
        var counter = run.Bundle.ReplayCounter;
        for (int j = 0; j < items.Count; j++)
        {
            var item = items[j];
            if (item.Error is not null || ItemPower(item, counter) is not { } w) continue;
            double replayJ = ReplayCallEnergyJ(item, w.PowerW);
            double? model = null;
            if (item.Kind == "op" && item.Node is int node && run.IndexOfNode.TryGetValue(node, out var idx) && run.Operators[idx].GpuSeconds > 0)
                model = w.PowerW * run.Operators[idx].GpuSeconds;
            else if (item.Kind == "module" && item.Module is { } m)
            {
                var without = Estimate(run, keys, j);
                var call = ModuleCalls.ReplayedAndTwins(run, m, signatures).FirstOrDefault();
                if (call.Operators is { Length: > 0 }) model = call.Operators.Sum(i => without.EnergyJ(run, i));
            }
            if (model is not double mj || !(replayJ > 0)) continue;
            var check = new ReplayCheck(item.Kind, item.Kind == "op" ? item.Id : item.Module!, replayJ * 1000, mj * 1000, item.CounterUpdates);
            checks.Add(check);
            maxError = Math.Max(maxError ?? 0, check.Error);
        }
        var few = checks.Where(c => c.CounterUpdates < ReplayCheck.MinCounterUpdates).ToList();
        if (few.Count > 0)
            notes.Add($"{few.Count} replay item(s) saw fewer than {ReplayCheck.MinCounterUpdates} counter updates, their power rests on few readings: " +
                      string.Join(", ", few.Take(5).Select(c => $"{c.Kind} {c.Id} ({c.CounterUpdates})")) + (few.Count > 5 ? ", ..." : ""));
        return checks;
    }

    static double IdlePower(Bundle b, List<string> notes)
    {
        if (b.Replay?.Idle?.PowerW is double p && p > 0) return p;
        if (b.Replay?.Idle is { } idle && b.ReplayCounter is { } rc)
        {
            var w = CounterWindow.Measure(rc, idle.WindowStartNs, idle.WindowEndNs);
            if (w.IsValid) return w.PowerW;
        }
        // Without an idle window, the lowest instantaneous reading of the pass is the best bound we have.
        var inst = b.Power.PowerInstantMw.Where(x => x > 0).ToArray();
        notes.Add("no replay idle window: idle power taken as the lowest instantaneous reading of the energy pass");
        return inst.Length > 0 ? inst.Min() / 1000.0 : 0;
    }

    /// <summary>The idle power's one-sigma: its counter window's sampling error, at least 3% (idle drifts with temperature).</summary>
    static double IdleSigma(Bundle b, double idle)
    {
        double rel = 0.03;
        if (b.Replay?.Idle is { } w && b.ReplayCounter is { } rc)
        {
            var m = CounterWindow.Measure(rc, w.WindowStartNs, w.WindowEndNs);
            if (m.IsValid) rel = Math.Max(rel, m.RelativeSigma);
        }
        return idle * rel;
    }

    /// <summary>
    /// The energy-pass counter less idle power over the time no kernel ran and less replayed energy, per second of
    /// the rest of the GPU time. Reported as a check; used only where no op replay calibrates a prior.
    /// </summary>
    static double TimelinePower(Bundle b, double idle, double replayedEnergyIter, double restGpuIter, List<string> notes, bool fallback)
    {
        var ep = b.Measure.EnergyPass;
        int k = Math.Max(1, b.Kineto.Iterations);
        var window = CounterWindow.Measure(b.Power, ep.SyncBeginEndNs, ep.SyncEndStartNs);
        if (!window.IsValid || restGpuIter <= 0)
        {
            if (restGpuIter > 0 && fallback) notes.Add("energy pass too short for the counter: timeline power set to idle power");
            return idle;
        }
        double passSeconds = (ep.SyncEndStartNs - ep.SyncBeginEndNs) / 1e9;
        double busy = Math.Min(b.Kineto.GpuBusySeconds, passSeconds);
        double rest = window.PowerW * passSeconds - idle * (passSeconds - busy) - replayedEnergyIter * k;
        double p = rest / (restGpuIter * k);
        if (double.IsFinite(p) && p >= idle && p <= MaxPlausiblePowerW) return p;
        if (fallback)
            notes.Add($"timeline residual power {p:F0} W is implausible (outside [{idle:F0}, {MaxPlausiblePowerW:F0}] W); unreplayed operators use idle power, the floor");
        return double.IsFinite(p) ? Math.Clamp(p, idle, MaxPlausiblePowerW) : idle;
    }

    static double Hypot(double a, double b) => Math.Sqrt(a * a + b * b);
    static double Hypot(double a, double b, double c) => Math.Sqrt(a * a + b * b + c * c);
    static double Square(double x) => x * x;
}
