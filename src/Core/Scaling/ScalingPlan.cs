namespace Magneton.Core.Scaling;

/// <summary>How a real bundle is scaled: what repeats, how often, and where differences are planted.</summary>
public enum ScalingMode
{
    /// <summary>Pick <see cref="DecodeSteps"/> when the graph ends in repeated identical steps, else <see cref="Job"/>.</summary>
    Auto,
    /// <summary>
    /// Repeat the last step of a generate loop (the trailing run of identical operator sequences): each copy reads
    /// the previous copy's outputs (next token, KV cache, attention mask) where the original step read the step
    /// before it, and everything older (weights, the prompt's values) where the original did.
    /// </summary>
    DecodeSteps,
    /// <summary>Repeat the whole job: each copy is the same computation on another input (fresh input values).</summary>
    Job,
}

/// <summary>One planted difference: in copy <see cref="Copy"/>, side A runs the slow chain instead of the operator.</summary>
/// <param name="Copy">Copy index (1 = the first added copy).</param>
/// <param name="TemplateIndex">Position of the replaced operator inside the repeated template.</param>
/// <param name="Module">Module of the replaced operator (where a finding must point).</param>
/// <param name="NodeIdA">Dataflow node id of the chain's last operator on side A (the one producing the result).</param>
/// <param name="NodeIdB">Dataflow node id of the operator it is equivalent to on side B.</param>
public sealed record PlantedDifference(int Copy, int TemplateIndex, string Module, int NodeIdA, int NodeIdB);

/// <summary>What the generator wrote for one side.</summary>
public sealed record ScaledBundle(
    string Directory,
    int Operators,
    long TraceUncompressedBytes,
    long TraceEvents,
    long DataflowBytes,
    string? UncompressedTracePath);

/// <summary>A generated pair and how it was made.</summary>
public sealed record ScaledPair(
    ScaledBundle A,
    ScaledBundle B,
    ScalingMode Mode,
    int Copies,
    int TemplateOperatorsA,
    int TemplateOperatorsB,
    IReadOnlyList<PlantedDifference> Plants);

/// <summary>What a planted difference does on side A.</summary>
public enum PlantKind
{
    /// <summary>
    /// The same operator dispatches a slower kernel (the unvectorized elementwise kernel, <see cref="ScaleOptions.PlantWeight"/>
    /// times the time): the graph is unchanged, only the energy pass differs, as with a configuration flag.
    /// </summary>
    Kernel,
    /// <summary>The operator is written out as an eager fp32 chain (to, sigmoid, mul, to): another operator set.</summary>
    Chain,
}

/// <summary>Options of <see cref="BundleScaler.ScalePair"/>.</summary>
public sealed record ScaleOptions
{
    /// <summary>About this many operators per side (side A is sized exactly to the nearest copy).</summary>
    public required int TargetOperators { get; init; }
    public ScalingMode Mode { get; init; } = ScalingMode.Auto;
    /// <summary>Plant the slow activation chain in every this-many-th added copy (0: no plants).</summary>
    public int PlantEvery { get; init; } = 4;
    /// <summary>Which repeats of the planted operator inside a copy to replace (template order); null: all.</summary>
    public IReadOnlyList<int>? PlantOccurrences { get; init; }
    /// <summary>Exactly where to plant: (copy, occurrence of the planted operator in the template); overrides PlantEvery/PlantOccurrences.</summary>
    public IReadOnlySet<(int Copy, int Occurrence)>? PlantSites { get; init; }
    public PlantKind PlantKind { get; init; } = PlantKind.Kernel;
    /// <summary>GPU time of the planted kernel (or of each chain operator) relative to the replaced kernel.</summary>
    public double PlantWeight { get; init; } = 5;
    /// <summary>The operator replaced by the plant (side A).</summary>
    public string PlantOperator { get; init; } = "aten.silu.default";
    /// <summary>Also write side A's trace uncompressed (for the json.load comparison).</summary>
    public bool WriteUncompressedTraceA { get; init; }
    /// <summary>gzip level of the written traces.</summary>
    public System.IO.Compression.CompressionLevel Compression { get; init; } = System.IO.Compression.CompressionLevel.Fastest;
}
