using System.Text.Json.Serialization;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Matching;

namespace Magneton.Core.Reporting;

// The report JSON of ARCHITECTURE.md ("magneton.report/1"). Property names are the interface; extend, never rename.

public sealed record ComparisonReport(
    [property: JsonPropertyName("schema")] string Schema,
    [property: JsonPropertyName("a")] RunSide A,
    [property: JsonPropertyName("b")] RunSide B,
    [property: JsonPropertyName("matching")] MatchingSummary Matching,
    [property: JsonPropertyName("energy_model")] EnergyModelSummary EnergyModel,
    [property: JsonPropertyName("regions")] IReadOnlyList<RegionReport> Regions,
    [property: JsonPropertyName("findings")] IReadOnlyList<FindingReport> Findings,
    [property: JsonPropertyName("unmatched")] UnmatchedReport Unmatched,
    [property: JsonPropertyName("notes")] IReadOnlyList<string> Notes)
{
    public const string SchemaName = "magneton.report/1";
    [JsonPropertyName("threshold")] public double Threshold { get; init; } = 0.10;
    /// <summary>What regions and findings are ranked by: energy, or CPU time when a side is a CPU capture.</summary>
    [JsonPropertyName("cost")] public CostBasis Cost { get; init; } = CostBasis.Energy;
    /// <summary>Whether the two runs compute the same thing; null in reports written before this existed (taken as comparable).</summary>
    [JsonPropertyName("comparability")] public ComparabilityReport? Comparability { get; init; }
    [JsonIgnore] public bool Comparable => Comparability?.Comparable ?? true;
    /// <summary>The report's one-word answer: waste, trade-off, cpu-time (CPU captures), no waste, or not comparable (then no finding is made).</summary>
    [JsonPropertyName("verdict")]
    public ReportVerdict Verdict =>
        !Comparable ? ReportVerdict.NotComparable
        : HasWaste ? ReportVerdict.Waste
        : Findings.Any(f => f.Verdict == Detection.Verdict.TradeOff) ? ReportVerdict.TradeOff
        : Findings.Count > 0 ? ReportVerdict.CpuTime
        : ReportVerdict.NoWaste;
    [JsonIgnore] public bool HasWaste => Findings.Any(f => f.Verdict == Detection.Verdict.Waste);
}

/// <summary>The evidence that the two runs compute the same thing (Detection.Comparability).</summary>
public sealed record ComparabilityReport(
    [property: JsonPropertyName("comparable")] bool Comparable,
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("equivalent_share_a")] double EquivalentShareA,
    [property: JsonPropertyName("equivalent_share_b")] double EquivalentShareB,
    [property: JsonPropertyName("splits")] int Splits,
    [property: JsonPropertyName("results_equivalent")] bool ResultsEquivalent,
    [property: JsonPropertyName("min_equivalent_share")] double MinEquivalentShare);

public sealed record RunSide(
    [property: JsonPropertyName("system")] string System,
    [property: JsonPropertyName("bundle")] string Bundle,
    [property: JsonPropertyName("operators")] int Operators,
    [property: JsonPropertyName("gpu_energy_j")] double GpuEnergyJ,
    [property: JsonPropertyName("gpu_time_s")] double GpuTimeS,
    [property: JsonPropertyName("iteration_energy_j")] double IterationEnergyJ,
    [property: JsonPropertyName("iteration_time_s")] double IterationTimeS,
    [property: JsonPropertyName("idle_energy_j")] double IdleEnergyJ)
{
    /// <summary>Share of operator GPU energy whose power came from replay (the rest from the timeline).</summary>
    [JsonPropertyName("replay_share")] public double ReplayShare { get; init; }
    /// <summary>(operator energy + idle power x idle time) / measured iteration energy.</summary>
    [JsonPropertyName("closure")] public double Closure { get; init; }
    [JsonPropertyName("idle_power_w")] public double IdlePowerW { get; init; }
    [JsonPropertyName("timeline_power_w")] public double TimelinePowerW { get; init; }
    /// <summary>
    /// Largest relative error over replay_checks: op items against replay power x in-situ time, module items against
    /// the operator model built without that module replay.
    /// </summary>
    [JsonPropertyName("replay_check_max_error")] public double? ReplayCheckMaxError { get; init; }
    [JsonPropertyName("replay_checks")] public IReadOnlyList<ReplayCheckReport> ReplayChecks { get; init; } = [];
    /// <summary>One-sigma of iteration_energy_j and the counter updates behind it (0: window-end reads only).</summary>
    [JsonPropertyName("iteration_energy_sigma_j")] public double IterationEnergySigmaJ { get; init; }
    [JsonPropertyName("iteration_counter_updates")] public int IterationCounterUpdates { get; init; }
    [JsonPropertyName("gpu_energy_sigma_j")] public double GpuEnergySigmaJ { get; init; }
    /// <summary>Operator energy above idle power.</summary>
    [JsonPropertyName("dynamic_energy_j")] public double DynamicEnergyJ { get; init; }
    /// <summary>Union of GPU activity per iteration inside the synchronised energy-pass window.</summary>
    [JsonPropertyName("gpu_busy_s")] public double GpuBusyS { get; init; }
    /// <summary>Baseline iteration time the GPU ran nothing; idle_energy_j = gap_power_w x gap_s.</summary>
    [JsonPropertyName("gap_s")] public double GapS { get; init; }
    [JsonPropertyName("gap_power_w")] public double GapPowerW { get; init; }
    [JsonPropertyName("idle_energy_sigma_j")] public double IdleEnergySigmaJ { get; init; }
    /// <summary>iteration_energy_j - gpu_energy_j - idle_energy_j (signed) and its one-sigma.</summary>
    [JsonPropertyName("unexplained_j")] public double UnexplainedJ { get; init; }
    [JsonPropertyName("unexplained_sigma_j")] public double UnexplainedSigmaJ { get; init; }
    /// <summary>Whether shorter kernels shorten the job ("gpu-bound", "host-bound"; "" for plain traces).</summary>
    [JsonPropertyName("bound")] public JobBound Bound { get; init; }
    /// <summary>Share of gpu_energy_j by source: replay-op, replay-module, prior, timeline.</summary>
    [JsonPropertyName("energy_sources")] public IReadOnlyDictionary<string, double> EnergySources { get; init; } = new Dictionary<string, double>();
    /// <summary>Machine, framework versions and date of the capture; null for plain profiler traces.</summary>
    [JsonPropertyName("capture")] public CaptureInfo? Capture { get; init; }
    /// <summary>"cuda" or "cpu" (measure.json "device").</summary>
    [JsonPropertyName("device")] public CaptureDevice Device { get; init; } = CaptureDevice.Gpu;
    /// <summary>False for a CPU capture: every energy field of this side is 0 and not a measurement.</summary>
    [JsonPropertyName("energy_measured")] public bool EnergyMeasured { get; init; } = true;
    /// <summary>Operators' host (CPU) time per iteration, from their aligned profiler ranges.</summary>
    [JsonPropertyName("cpu_time_s")] public double CpuTimeS { get; init; }
}

public sealed record ReplayCheckReport(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("replay_mj")] double ReplayMj,
    [property: JsonPropertyName("model_mj")] double ModelMj,
    [property: JsonPropertyName("error")] double Error,
    [property: JsonPropertyName("counter_updates")] int CounterUpdates);

public sealed record MatchingSummary(
    [property: JsonPropertyName("regions")] int Regions,
    [property: JsonPropertyName("cut_points")] int CutPoints,
    [property: JsonPropertyName("a_coverage")] double ACoverage,
    [property: JsonPropertyName("b_coverage")] double BCoverage,
    [property: JsonPropertyName("elapsed_ms")] double ElapsedMs)
{
    [JsonPropertyName("equivalent_values")] public int EquivalentValues { get; init; }
    [JsonPropertyName("mode")] public MatchMode Mode { get; init; } = MatchMode.Values;
}

public sealed record EnergyModelSummary(
    [property: JsonPropertyName("sources")] string Sources,
    [property: JsonPropertyName("description")] string Description);

public sealed record RegionSideReport(
    [property: JsonPropertyName("nodes")] IReadOnlyList<int> Nodes,
    [property: JsonPropertyName("ops")] IReadOnlyList<string> Ops,
    [property: JsonPropertyName("modules")] IReadOnlyList<string> Modules,
    [property: JsonPropertyName("energy_j")] double EnergyJ,
    [property: JsonPropertyName("gpu_time_s")] double GpuTimeS,
    [property: JsonPropertyName("energy_source")] string EnergySource)
{
    [JsonPropertyName("energy_sigma_j")] public double EnergySigmaJ { get; init; }
    [JsonPropertyName("dynamic_energy_j")] public double DynamicEnergyJ { get; init; }
    /// <summary>Share of energy_j by source.</summary>
    [JsonPropertyName("energy_sources")] public IReadOnlyDictionary<string, double> EnergySources { get; init; } = new Dictionary<string, double>();
    /// <summary>Replayed energy of the module calls this side is made of; null when it is not exactly such calls.</summary>
    [JsonPropertyName("replay_energy_j")] public double? ReplayEnergyJ { get; init; }
    [JsonPropertyName("cpu_time_s")] public double CpuTimeS { get; init; }
}

public sealed record RegionReport(
    [property: JsonPropertyName("id")] int Id,
    [property: JsonPropertyName("energy_ratio")] double EnergyRatio,
    [property: JsonPropertyName("time_ratio")] double TimeRatio,
    [property: JsonPropertyName("a")] RegionSideReport A,
    [property: JsonPropertyName("b")] RegionSideReport B)
{
    /// <summary>energy_ratio's interval (two sigmas).</summary>
    [JsonPropertyName("energy_ratio_interval")] public IReadOnlyList<double> EnergyRatioInterval { get; init; } = [];
    /// <summary>"replay" when both sides are replayed module calls, else "in-situ" (identical operators in common mode).</summary>
    [JsonPropertyName("energy_basis")] public EnergyBasis EnergyBasis { get; init; }
    /// <summary>a.energy_j / b.energy_j: the in-situ model without common mode.</summary>
    [JsonPropertyName("in_situ_energy_ratio")] public double InSituEnergyRatio { get; init; }
}

public sealed record PerSide<T>(
    [property: JsonPropertyName("a")] IReadOnlyList<T> A,
    [property: JsonPropertyName("b")] IReadOnlyList<T> B);

public sealed record CauseReport(
    [property: JsonPropertyName("kind")] CauseKind Kind,
    [property: JsonPropertyName("config")] IReadOnlyList<ConfigDifference> Config,
    [property: JsonPropertyName("kernels")] PerSide<string> Kernels,
    [property: JsonPropertyName("modules")] PerSide<string> Modules,
    [property: JsonPropertyName("classes")] PerSide<string> Classes,
    [property: JsonPropertyName("source")] PerSide<string> Source)
{
    /// <summary>The efficient side's operators for this region (what to switch to).</summary>
    [JsonPropertyName("efficient_ops")] public IReadOnlyList<string> EfficientOps { get; init; } = [];
    [JsonPropertyName("source_lines")] public PerSide<string> SourceLines { get; init; } = new([], []);
    [JsonPropertyName("suggestion")] public string Suggestion { get; init; } = "";
}

public sealed record FindingReport(
    [property: JsonPropertyName("id")] int Id,
    [property: JsonPropertyName("verdict")] Verdict Verdict,
    [property: JsonPropertyName("wasteful")] Side Wasteful,
    [property: JsonPropertyName("regions")] IReadOnlyList<int> Regions,
    [property: JsonPropertyName("instances")] int Instances,
    [property: JsonPropertyName("energy_delta_j")] double EnergyDeltaJ,
    [property: JsonPropertyName("energy_ratio")] double EnergyRatio,
    [property: JsonPropertyName("time_ratio")] double TimeRatio,
    [property: JsonPropertyName("category")] string Category,
    [property: JsonPropertyName("cause")] CauseReport Cause,
    [property: JsonPropertyName("explanation")] string Explanation)
{
    /// <summary>energy_delta_j over the wasteful side's measured iteration energy.</summary>
    [JsonPropertyName("share_of_job")] public double ShareOfJob { get; init; }
    [JsonPropertyName("where")] public string Where { get; init; } = "";
    [JsonPropertyName("energy_source")] public string EnergySource { get; init; } = "";
    /// <summary>energy_ratio's interval (two sigmas); verdict "possible" when its low end is below 1 + threshold.</summary>
    [JsonPropertyName("energy_ratio_interval")] public IReadOnlyList<double> EnergyRatioInterval { get; init; } = [];
    [JsonPropertyName("energy_basis")] public EnergyBasis EnergyBasis { get; init; }
    /// <summary>The in-situ model's ratio where the replay basis is primary.</summary>
    [JsonPropertyName("in_situ_energy_ratio")] public double? InSituEnergyRatio { get; init; }
    [JsonPropertyName("energy_sources")] public IReadOnlyDictionary<string, double> EnergySources { get; init; } = new Dictionary<string, double>();
    /// <summary>What the wasteful job saves per iteration; saving_basis "total" (GPU-bound) or "dynamic" (host-bound).</summary>
    [JsonPropertyName("job_saving_j")] public double JobSavingJ { get; init; }
    [JsonPropertyName("saving_basis")] public SavingBasis SavingBasis { get; init; }
    /// <summary>CPU captures: the wasteful side's extra CPU time per iteration, seconds.</summary>
    [JsonPropertyName("cpu_time_delta_s")] public double? CpuTimeDeltaS { get; init; }
    /// <summary>Every place the cause shows (module with its layer or step index), largest difference first; energy_delta_j is their sum.</summary>
    [JsonPropertyName("sites")] public IReadOnlyList<SiteReport> Sites { get; init; } = [];
}

/// <summary>One place of a finding: its regions and energies per iteration (wasteful and efficient side).</summary>
public sealed record SiteReport(
    [property: JsonPropertyName("where")] string Where,
    [property: JsonPropertyName("regions")] IReadOnlyList<int> Regions,
    [property: JsonPropertyName("energy_delta_j")] double EnergyDeltaJ,
    [property: JsonPropertyName("wasteful_energy_j")] double WastefulEnergyJ,
    [property: JsonPropertyName("efficient_energy_j")] double EfficientEnergyJ,
    [property: JsonPropertyName("share_of_job")] double ShareOfJob);

public sealed record UnmatchedOperator(
    [property: JsonPropertyName("op")] string Op,
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("energy_j")] double EnergyJ);

public sealed record UnmatchedReport(
    [property: JsonPropertyName("a")] IReadOnlyList<UnmatchedOperator> A,
    [property: JsonPropertyName("b")] IReadOnlyList<UnmatchedOperator> B);
