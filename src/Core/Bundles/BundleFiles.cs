namespace Magneton.Core.Bundles;

/// <summary>The file names of format "magneton-capture/1".</summary>
public static class BundleFiles
{
    public const string Format = "magneton-capture/1";

    public const string Dataflow = "dataflow.json";
    public const string Kineto = "kineto.json.gz";
    public const string Power = "power.csv";
    public const string Measure = "measure.json";
    public const string BaselinePower = "baseline_power.csv";
    public const string Replay = "replay.json";
    public const string ReplayCounter = "replay_counter.csv";
    public const string Context = "context.json";

    public static IReadOnlyList<string> Required { get; } = [Dataflow, Kineto, Power, Measure];
    public static IReadOnlyList<string> Optional { get; } = [BaselinePower, Replay, ReplayCounter, Context];

    public static bool IsKnown(string name) => Required.Contains(name) || Optional.Contains(name);
}
