using Magneton.Core.Runs;

namespace Magneton.Core.Energy;

/// <summary>One replay item predicted by the model without it, against its own replayed energy per call.</summary>
public sealed record LeaveOneOutItem(string Bundle, string Kind, string Id, EnergySource PredictedFrom, double ReplayMj, double PredictedMj)
{
    public double Error => (PredictedMj - ReplayMj) / ReplayMj;
}

/// <summary>
/// Leave-one-out validation of the energy model on a bundle's own ground truth: each replay item (op or module) is
/// dropped in turn, the model is rebuilt without it (prior recalibrated, module constraints redone), and its
/// prediction for the item's call (operator: its in-situ energy; module: the sum over the replayed call's operators)
/// is compared with the replayed energy per call. Replay runs warm and at sustained clocks, so part of the error
/// is in-situ execution differing from replay, not the model.
/// </summary>
public static class LeaveOneOut
{
    public static List<LeaveOneOutItem> Evaluate(Run run)
    {
        var result = new List<LeaveOneOutItem>();
        var items = run.Bundle.Replay?.Items ?? [];
        var keys = EnergyModel.OperatorKeys.Of(run);
        var signatures = keys.Signatures;
        for (int j = 0; j < items.Count; j++)
        {
            var item = items[j];
            if (item.Error is not null || EnergyModel.ItemPower(item, run.Bundle.ReplayCounter) is not { } w) continue;
            double truth = EnergyModel.ReplayCallEnergyJ(item, w.PowerW);
            if (!(truth > 0)) continue;
            int[] ops;
            if (item.Kind == "op" && item.Node is int node && run.IndexOfNode.TryGetValue(node, out var idx)) ops = [idx];
            else if (item.Kind == "module" && item.Module is { } m && ModuleCalls.ReplayedAndTwins(run, m, signatures) is { Count: > 0 } calls)
                ops = calls[0].Operators;
            else continue;
            if (ops.All(i => run.Operators[i].GpuSeconds <= 0)) continue;
            var est = EnergyModel.Estimate(run, keys, j);
            double predicted = ops.Sum(i => est.EnergyJ(run, i));
            var from = ops.Where(i => run.Operators[i].GpuSeconds > 0).GroupBy(i => est.Source[i])
                .MaxBy(g => g.Sum(i => est.EnergyJ(run, i)))!.Key;
            result.Add(new LeaveOneOutItem(run.BundlePath, item.Kind, item.Kind == "op" ? item.Id : item.Module!, from, truth * 1000, predicted * 1000));
        }
        return result;
    }
}
