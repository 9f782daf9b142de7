using System.Text;
using Magneton.Core.Bundles;
using Magneton.Core.Runs;

namespace Magneton.Core.Energy;

/// <summary>
/// Operator GPU energy = operator power x in-situ GPU time. Power comes from a long replay of the same
/// operator signature when one exists (NVML's 100 ms counter cannot see a 10 us kernel otherwise), else from
/// the energy-pass timeline: the counter's energy over the pass, less idle power over the time no kernel ran,
/// less what replayed operators account for, spread over the rest in proportion to GPU time.
/// Raw average power over an instrumented pass is never compared across runs: the two passes idle differently.
/// </summary>
public static class EnergyModel
{
    const double MaxPlausiblePowerW = 1200;

    public static RunEnergy Apply(Run run)
    {
        var b = run.Bundle;
        // A CPU capture measured no energy: nothing to attribute, and no number may pass for a measurement.
        if (run.IsCpuCapture)
            return new RunEnergy(0, b.Measure.Baseline.IterSeconds, 0, 0, 0, 0, 0, 0, null,
                ["CPU capture: no GPU energy was measured"]);
        var notes = new List<string>();
        var replayPower = ReplayPowerBySignature(run, notes, out double? replayCheck);
        double idle = IdlePower(b, notes);

        int k = Math.Max(1, b.Kineto.Iterations);
        double replayedEnergyPass = 0, restGpuPass = 0;
        foreach (var op in run.Operators)
        {
            if (op.GpuSeconds <= 0) continue;
            if (replayPower.TryGetValue(Signature(run, op), out var p))
            {
                op.PowerW = p;
                op.Source = EnergySource.Replay;
                replayedEnergyPass += p * op.GpuSeconds * k;
            }
            else restGpuPass += op.GpuSeconds * k;
        }

        double replayedGpuPass = run.Operators.Where(o => o.Source == EnergySource.Replay).Sum(o => o.GpuSeconds * k);
        double replayMean = replayedGpuPass > 0 ? replayedEnergyPass / replayedGpuPass : double.NaN;
        double timeline = TimelinePower(b, idle, replayedEnergyPass, restGpuPass, replayMean, notes);
        foreach (var op in run.Operators)
        {
            if (op.GpuSeconds <= 0 || op.Source == EnergySource.Replay) continue;
            op.PowerW = timeline;
            op.Source = EnergySource.Timeline;
        }

        double opEnergy = run.Operators.Sum(o => o.EnergyJ);
        double gpu = run.Operators.Sum(o => o.GpuSeconds);
        double replayShare = opEnergy > 0
            ? run.Operators.Where(o => o.Source == EnergySource.Replay).Sum(o => o.EnergyJ) / opEnergy : 0;
        var baseline = b.Measure.Baseline;
        double predicted = opEnergy + idle * Math.Max(0, baseline.IterSeconds - gpu);
        double closure = baseline.IterEnergyCounterJ > 0 ? predicted / baseline.IterEnergyCounterJ : double.NaN;
        return new RunEnergy(baseline.IterEnergyCounterJ, baseline.IterSeconds, opEnergy, gpu, idle, timeline,
            replayShare, closure, replayCheck, notes);
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

    static Dictionary<string, double> ReplayPowerBySignature(Run run, List<string> notes, out double? maxError)
    {
        maxError = null;
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        var replay = run.Bundle.Replay;
        if (replay is null) { notes.Add("no replay.json: all operator power from the energy-pass timeline"); return result; }
        var counter = run.Bundle.ReplayCounter;
        foreach (var item in replay.Items)
        {
            if (item.Kind != "op" || item.Node is not int node || item.Error is not null) continue;
            if (!run.IndexOfNode.TryGetValue(node, out var idx)) continue;
            double? power = ItemPower(item, counter, out var error);
            if (error is double e) maxError = Math.Max(maxError ?? 0, e);
            if (power is double p && double.IsFinite(p) && p > 0)
                result.TryAdd(Signature(run, run.Operators[idx]), p);
        }
        // A module replayed whole gives the power of its operators that have no replay of their own (the
        // elementwise and copy operators around the big ones); inner modules first, they are more specific.
        foreach (var item in replay.Items.Where(i => i.Kind == "module" && i.Error is null && i.Module is not null)
                     .OrderByDescending(i => i.Module!.Length))
        {
            double? power = ItemPower(item, counter, out _);
            if (power is not double p || !double.IsFinite(p) || p <= 0) continue;
            string prefix = item.Module + ".";
            foreach (var op in run.Operators)
                if (op.GpuSeconds > 0 && (op.Module == item.Module || op.Module.StartsWith(prefix, StringComparison.Ordinal)))
                    result.TryAdd(Signature(run, op), p);
        }
        if (maxError > 0.02)
            notes.Add($"replay power recomputed from replay_counter.csv differs from replay.json by up to {maxError:P1}");
        return result;
    }

    /// <summary>
    /// A replay window's power, recomputed from the raw counter where replay_counter.csv is present
    /// (replay.json must be reproducible from it); <paramref name="error"/> is the relative disagreement.
    /// </summary>
    static double? ItemPower(ReplayItem item, PowerSamples? counter, out double? error)
    {
        error = null;
        if (counter is null) return item.PowerW;
        var w = CounterWindow.Measure(counter, item.WindowStartNs, item.WindowEndNs);
        if (!w.IsValid) return item.PowerW;
        if (item.PowerW is double given && given > 0) error = Math.Abs(w.PowerW - given) / given;
        return w.PowerW;
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

    static double TimelinePower(Bundle b, double idle, double replayedEnergyPass, double restGpuPass, double replayMean,
        List<string> notes)
    {
        var ep = b.Measure.EnergyPass;
        var window = CounterWindow.Measure(b.Power, ep.SyncBeginEndNs, ep.SyncEndStartNs);
        if (!window.IsValid || restGpuPass <= 0)
        {
            if (restGpuPass > 0) notes.Add("energy pass too short for the counter: timeline power set to idle power");
            return idle;
        }
        double passSeconds = (ep.SyncEndStartNs - ep.SyncBeginEndNs) / 1e9;
        double busy = Math.Min(b.Kineto.GpuBusySeconds, passSeconds);
        double energy = window.PowerW * passSeconds;
        double rest = energy - idle * (passSeconds - busy) - replayedEnergyPass;
        double p = rest / restGpuPass;
        if (!double.IsFinite(p) || p < idle || p > MaxPlausiblePowerW)
        {
            // The residual is too small to divide (replay explains nearly all of the pass): the replayed
            // operators' mean power is a better estimate for the few left than a clamp.
            // Below idle is physically impossible for a running kernel: idle is the floor.
            double fallback = p < idle ? idle
                : double.IsFinite(replayMean) ? replayMean : Math.Clamp(double.IsFinite(p) ? p : idle, idle, MaxPlausiblePowerW);
            notes.Add($"timeline residual power {p:F0} W is implausible (outside [{idle:F0}, {MaxPlausiblePowerW:F0}] W); " +
                      $"the {restGpuPass / Math.Max(1, b.Kineto.Iterations) * 1000:F2} ms/iteration of unreplayed operators use {fallback:F0} W ({(p < idle ? "idle power, the floor" : "mean replayed power")})");
            return fallback;
        }
        return p;
    }
}
