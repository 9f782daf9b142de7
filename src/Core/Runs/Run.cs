using Magneton.Core.Bundles;

namespace Magneton.Core.Runs;

/// <summary>
/// Where an operator's energy came from. Every energy number carries one: a long replay of the same operator
/// signature, a replayed module call of the same call signature, the bundle's calibrated power prior, or (only
/// where the bundle has no op replay to calibrate a prior) the energy-pass timeline residual.
/// </summary>
public enum EnergySource { None, ReplayOp, ReplayModule, Prior, Timeline }

public static class EnergySources
{
    public static readonly EnergySource[] Measured =
        [EnergySource.ReplayOp, EnergySource.ReplayModule, EnergySource.Prior, EnergySource.Timeline];

    /// <summary>The name in the report JSON.</summary>
    public static string Json(this EnergySource s) => s switch
    {
        EnergySource.ReplayOp => "replay-op",
        EnergySource.ReplayModule => "replay-module",
        EnergySource.Prior => "prior",
        EnergySource.Timeline => "timeline",
        _ => "none",
    };
}

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
    /// included, median over the profiled iterations. The operator's cost in a CPU capture, where there is no GPU time.
    /// </summary>
    public double CpuSeconds { get; set; }
    /// <summary>GPU activities launched per iteration, first-seen order.</summary>
    public IReadOnlyList<KernelCount> Kernels { get; set; } = [];
    public double PowerW { get; set; }
    public EnergySource Source { get; set; }
    /// <summary>Operator GPU energy per job iteration, J.</summary>
    public double EnergyJ => PowerW * GpuSeconds;
    /// <summary>One standard deviation of <see cref="EnergyJ"/>, J, from its source (see EnergyModel).</summary>
    public double EnergySigmaJ { get; set; }
    /// <summary>
    /// The part of <see cref="EnergyJ"/> above idle power: what disappears when the kernel gets shorter but the
    /// iteration does not (a host-bound job idles instead).
    /// </summary>
    public double DynamicEnergyJ { get; set; }
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

/// <summary>
/// Per-run energy balance per job iteration: measured job energy (counter updates in the baseline window) =
/// operator energy + idle/host energy (gap power x time the GPU ran nothing) + a signed unexplained rest.
/// Every term carries its one-sigma uncertainty.
/// </summary>
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
    public double IterationEnergySigmaJ { get; init; }
    /// <summary>Counter updates behind <see cref="IterationEnergyJ"/>; 0 where only the window-end reads exist.</summary>
    public int IterationCounterUpdates { get; init; }
    public double OperatorEnergySigmaJ { get; init; }
    /// <summary>Operator energy above idle power.</summary>
    public double DynamicEnergyJ { get; init; }
    /// <summary>Union of GPU activity inside the synchronised energy-pass window, per iteration, s.</summary>
    public double GpuBusySeconds { get; init; }
    /// <summary>Time per baseline iteration the GPU ran nothing (never negative), s.</summary>
    public double GapSeconds { get; init; }
    /// <summary>Power while the GPU runs nothing between launches: the measured idle power.</summary>
    public double GapPowerW { get; init; }
    /// <summary>Idle GPU between launches and host-bound gaps: gap power x gap time, never negative.</summary>
    public double IdleHostEnergyJ { get; init; }
    public double IdleHostSigmaJ { get; init; }
    /// <summary>Measured - operators - idle/host, signed; within <see cref="UnexplainedSigmaJ"/> when the model closes.</summary>
    public double UnexplainedJ { get; init; }
    public double UnexplainedSigmaJ { get; init; }
    /// <summary>Share of operator energy by source.</summary>
    public IReadOnlyDictionary<EnergySource, double> SourceShares { get; init; } = new Dictionary<EnergySource, double>();
    /// <summary>Busy share of the iteration at or above which shorter kernels shorten the job (GPU-bound).</summary>
    public const double GpuBoundBusyShare = 0.9;
    /// <summary>
    /// True when the GPU is busy nearly all of an iteration: shortening a kernel shortens the job and saves its
    /// whole energy. In a host-bound job the GPU idles instead, and only the dynamic part is saved.
    /// </summary>
    public bool GpuBound => IterationSeconds > 0 && GpuBusySeconds >= GpuBoundBusyShare * IterationSeconds;
    /// <summary>Each replay item checked against the model without it (see <see cref="ReplayCheck"/>; the energy model makes them).</summary>
    public IReadOnlyList<ReplayCheck> ReplayChecks { get; init; } = [];
    /// <summary>Replayed module calls and their signature twins, for regions that line up with them.</summary>
    public IReadOnlyList<ReplayedCall> ReplayedCalls
    {
        get => replayedCalls;
        init
        {
            replayedCalls = value;
            CallsOf = value.SelectMany(c => c.Operators.Select(o => (o, c))).ToLookup(x => x.o, x => x.c);
        }
    }
    readonly IReadOnlyList<ReplayedCall> replayedCalls = [];
    /// <summary>The replayed calls an operator (by index) is part of.</summary>
    public ILookup<int, ReplayedCall> CallsOf { get; private init; } = Array.Empty<(int, ReplayedCall)>().ToLookup(x => x.Item1, x => x.Item2);
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
