using System.Text.Json.Serialization;

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
    [JsonIgnore] public bool HasWaste => Findings.Any(f => f.Verdict == "waste");
}

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
    /// <summary>"gpu-bound" or "host-bound": whether shorter kernels shorten the job.</summary>
    [JsonPropertyName("bound")] public string Bound { get; init; } = "";
    /// <summary>Share of gpu_energy_j by source: replay-op, replay-module, prior, timeline.</summary>
    [JsonPropertyName("energy_sources")] public IReadOnlyDictionary<string, double> EnergySources { get; init; } = new Dictionary<string, double>();
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
    [JsonPropertyName("mode")] public string Mode { get; init; } = "values";
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
    [JsonPropertyName("energy_basis")] public string EnergyBasis { get; init; } = "";
    /// <summary>a.energy_j / b.energy_j: the in-situ model without common mode.</summary>
    [JsonPropertyName("in_situ_energy_ratio")] public double InSituEnergyRatio { get; init; }
}

public sealed record ConfigDifference(
    [property: JsonPropertyName("key")] string Key,
    [property: JsonPropertyName("a")] string? A,
    [property: JsonPropertyName("b")] string? B);

public sealed record PerSide<T>(
    [property: JsonPropertyName("a")] IReadOnlyList<T> A,
    [property: JsonPropertyName("b")] IReadOnlyList<T> B);

public sealed record CauseReport(
    [property: JsonPropertyName("kind")] string Kind,
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
    [property: JsonPropertyName("verdict")] string Verdict,
    [property: JsonPropertyName("wasteful")] string Wasteful,
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
    [JsonPropertyName("energy_basis")] public string EnergyBasis { get; init; } = "";
    /// <summary>The in-situ model's ratio where the replay basis is primary.</summary>
    [JsonPropertyName("in_situ_energy_ratio")] public double? InSituEnergyRatio { get; init; }
    [JsonPropertyName("energy_sources")] public IReadOnlyDictionary<string, double> EnergySources { get; init; } = new Dictionary<string, double>();
    /// <summary>What the wasteful job saves per iteration; saving_basis "total" (GPU-bound) or "dynamic" (host-bound).</summary>
    [JsonPropertyName("job_saving_j")] public double JobSavingJ { get; init; }
    [JsonPropertyName("saving_basis")] public string SavingBasis { get; init; } = "";
}

public sealed record UnmatchedOperator(
    [property: JsonPropertyName("op")] string Op,
    [property: JsonPropertyName("count")] int Count,
    [property: JsonPropertyName("energy_j")] double EnergyJ);

public sealed record UnmatchedReport(
    [property: JsonPropertyName("a")] IReadOnlyList<UnmatchedOperator> A,
    [property: JsonPropertyName("b")] IReadOnlyList<UnmatchedOperator> B);
