using Magneton.Core.Bundles;

namespace Magneton.Core.Runs;

/// <summary>Where an operator's power figure came from. Every energy number carries one.</summary>
public enum EnergySource { None, Replay, Timeline }

/// <summary>
/// One operator of the semantic pass joined with what the energy pass measured for it.
/// Index is its position in <see cref="Run.Operators"/>; Id is the dataflow node id.
/// </summary>
public sealed class Operator
{
    public required int Index { get; init; }
    public required DataflowNode Node { get; init; }
    public int Id => Node.Id;
    public string Op => Node.Op;
    public string Module => Node.Module;
    /// <summary>In-situ GPU time per job iteration (kernels, memcpy, memset), seconds.</summary>
    public double GpuSeconds { get; set; }
    /// <summary>
    /// Host (CPU) time per job iteration: the duration of its aligned profiler range, everything it called
    /// included. The operator's cost in a CPU capture, where there is no GPU time.
    /// </summary>
    public double CpuSeconds { get; set; }
    /// <summary>GPU activities launched per iteration, first-seen order.</summary>
    public IReadOnlyList<KernelCount> Kernels { get; set; } = [];
    public double PowerW { get; set; }
    public EnergySource Source { get; set; }
    /// <summary>Operator GPU energy per job iteration, J.</summary>
    public double EnergyJ => PowerW * GpuSeconds;
    /// <summary>True when the operator only reinterprets memory: a view that launched no GPU work.</summary>
    public bool IsPureView => Node.View && GpuSeconds == 0 && Kernels.Count == 0;
    /// <summary>Operators of the graph that produced this one's tensor inputs (not parameters or inputs).</summary>
    public int[] Predecessors { get; set; } = [];
    public int[] Successors { get; set; } = [];
    /// <summary>
    /// Computes only from parameters, buffers and constants (a transposed weight, an arange): it carries no
    /// activation, so it never cuts and adds no edge to the dataflow graph; it joins the region of its consumer.
    /// </summary>
    public bool ParameterDerived { get; set; }
    /// <summary>For parameter-derived operators: the operators that consume their outputs.</summary>
    public int[] ParameterConsumers { get; set; } = [];
    /// <summary>Parameter-derived operators whose outputs this operator reads (edges left out of Predecessors).</summary>
    public int[] ParameterPredecessors { get; set; } = [];
}

/// <summary>Per-run energy accounting: what was measured, what the model attributes, and how well it closes.</summary>
public sealed record RunEnergy(
    double IterationEnergyJ,
    double IterationSeconds,
    double OperatorEnergyJ,
    double OperatorGpuSeconds,
    double IdlePowerW,
    double TimelinePowerW,
    double ReplayShare,
    double Closure,
    double? ReplayCheckMaxError,
    IReadOnlyList<string> Notes)
{
    /// <summary>Measured job energy not attributed to any operator: idle GPU between launches, host-bound gaps.</summary>
    public double IdleHostEnergyJ => IterationEnergyJ - OperatorEnergyJ;
}

/// <summary>The run model of one bundle: operator graph with values, kernels and energy.</summary>
public sealed class Run
{
    public required Bundle Bundle { get; init; }
    public string System => Bundle.Dataflow.System;
    public string BundlePath => Bundle.Path;
    public required Operator[] Operators { get; init; }
    /// <summary>Node id to index in <see cref="Operators"/>.</summary>
    public required IReadOnlyDictionary<int, int> IndexOfNode { get; init; }
    public IReadOnlyDictionary<int, DataflowValue> Values => Bundle.Dataflow.Values;
    public required RunEnergy Energy { get; set; }
    /// <summary>A CPU capture: no GPU energy was measured; costs are CPU time.</summary>
    public bool IsCpuCapture => Bundle.Measure.Device == CaptureDevice.Cpu;

    public Operator ByNode(int nodeId) => Operators[IndexOfNode[nodeId]];

    /// <summary>Non-view operators: those that compute (a view that copied counts as computing).</summary>
    public int ComputingOperatorCount => Operators.Count(o => !o.IsPureView);

    /// <summary>Flags, model config and capture config merged under prefixes, for config diffs.</summary>
    public IReadOnlyDictionary<string, string> ConfigurationKeys()
    {
        var d = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in Bundle.Dataflow.Config) d["config." + k] = v;
        if (Bundle.Context is { } c)
        {
            foreach (var (k, v) in c.Flags) d[k] = v;
            foreach (var (k, v) in c.ModelConfig) d["model_config." + k] = v;
        }
        return d;
    }

    public string? ModuleClass(string module) =>
        Bundle.Context is { } c && c.Modules.TryGetValue(module, out var cls) ? cls : null;
}
