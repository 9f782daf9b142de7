using Magneton.Core.Bundles;

namespace Magneton.Core.Runs;

/// <summary>Joins the semantic pass (dataflow) with the energy pass (kineto) and applies an energy model.</summary>
public static class RunBuilder
{
    /// <param name="energyModel">
    /// Attributes the bundle's measured energy to the operators of the joined run and returns its balance
    /// (Energy.EnergyModel.Apply; Pipeline.Ingest passes it). A parameter so that the run model does not depend on
    /// the energy model that reads it: the run is complete, energy included, when Build returns.
    /// </param>
    public static Run Build(Bundle bundle, Func<Run, RunEnergy> energyModel)
    {
        var nodes = bundle.Dataflow.Nodes;
        var ops = new Operator[nodes.Count];
        var index = new Dictionary<int, int>(nodes.Count);
        for (int i = 0; i < nodes.Count; i++)
        {
            ops[i] = new Operator { Index = i, Node = nodes[i] };
            index[nodes[i].Id] = i;
        }
        LinkByLastWriter(bundle.Dataflow, ops, index);
        AttachKernels(bundle, ops);
        var run = new Run { Bundle = bundle, Operators = ops, IndexOfNode = index, Energy = null! };
        run.Energy = energyModel(run);
        return run;
    }

    // A value's producer is its last writer (in-place ops mint new value ids), so edges are
    // producer -> consumer. Parameters, inputs and constants have no producer and add no edge, and neither
    // do operators computing only from parameters: they must not tie unrelated parts of the graph together
    // (a weight's unsqueeze would otherwise bypass every dominator of the layer that uses it).
    static void LinkByLastWriter(Dataflow df, Operator[] ops, Dictionary<int, int> index)
    {
        var succ = new List<int>[ops.Length];
        var paramConsumers = new List<int>[ops.Length];
        for (int i = 0; i < ops.Length; i++)
        {
            var preds = new SortedSet<int>();
            var paramPreds = new SortedSet<int>();
            bool activation = false;
            foreach (var v in ops[i].Node.In)
            {
                var value = df.Values[v];
                if (value.Kind == "input") activation = true;
                if (value.Producer is not int p || !index.TryGetValue(p, out var pi) || pi == i) continue;
                if (ops[pi].ParameterDerived) { (paramConsumers[pi] ??= []).Add(i); paramPreds.Add(pi); continue; }
                preds.Add(pi);
                activation = true;
            }
            ops[i].ParameterDerived = !activation;
            ops[i].Predecessors = preds.ToArray();
            ops[i].ParameterPredecessors = paramPreds.ToArray();
            foreach (var p in preds) (succ[p] ??= []).Add(i);
        }
        for (int i = 0; i < ops.Length; i++)
        {
            ops[i].Successors = succ[i]?.ToArray() ?? [];
            ops[i].ParameterConsumers = paramConsumers[i]?.Distinct().ToArray() ?? [];
        }
    }

    static void AttachKernels(Bundle bundle, Operator[] ops)
    {
        var k = bundle.Kineto;
        int iterations = Math.Max(1, k.Iterations);
        foreach (var op in ops)
        {
            if (op.Node.TraceId is not int t || !k.Operators.TryGetValue(t, out var traced)) continue;
            op.GpuSeconds = traced.GpuSecondsTotal / iterations;
            op.CpuSeconds = traced.HostSecondsMedian;
            // One iteration: the per-iteration kernels are the trace's own (x / 1 is x); share them.
            op.Kernels = iterations == 1
                ? traced.Kernels
                : traced.Kernels.Select(kc => kc with { Count = kc.Count, Seconds = kc.Seconds / iterations }).ToArray();
        }
    }
}
