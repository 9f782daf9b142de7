using Magneton.Core.Reporting;
using Magneton.Core.Traces;

namespace Magneton.Client;

/// <summary>
/// <c>magneton compare</c> on two plain PyTorch profiler traces (files *.json / *.json.gz, or directories of per-rank
/// traces): a structural comparison of one step, in this process (no silo: there is nothing to fan out).
/// </summary>
internal static class TraceCompareCommand
{
    /// <summary>True when both arguments are profiler traces; refuses mixed inputs and trace-only options on bundles.</summary>
    public static bool Applies(CompareArguments args)
    {
        CheckExists(args.BundleA);
        CheckExists(args.BundleB);
        bool a = TraceInput.IsTracePath(args.BundleA), b = TraceInput.IsTracePath(args.BundleB);
        if (a && b)
        {
            if (args.Cluster is not null)
                throw new UsageException("--cluster: plain profiler traces are compared in this process, not on a cluster; drop --cluster");
            return true;
        }
        if (a || b)
            throw new UsageException($"{(a ? args.BundleA : args.BundleB)}: a plain profiler trace can only be compared with another " +
                                     $"profiler trace, and {(a ? args.BundleB : args.BundleA)} is not one (a capture bundle?)");
        if (TraceOption(args) is { } option)
            throw new UsageException($"{option} applies to plain profiler traces (*.json, *.json.gz), not to capture bundles");
        return false;
    }

    private static string? TraceOption(CompareArguments args) =>
        args.Step is not null ? "--step" : args.StepA is not null ? "--step-a" : args.StepB is not null ? "--step-b" : args.Rank is not null ? "--rank" : null;

    public static ComparisonReport Compare(CompareArguments args, CancellationToken ct)
    {
        if (args.Step is not null && (args.StepA ?? args.StepB) is not null)
            throw new UsageException($"--step sets the step of both sides; give it or --step-a/--step-b, not both");
        return TraceComparison.Compare(args.BundleA, args.BundleB,
            new TraceCompareOptions { Threshold = args.Threshold, Step = args.Step, StepA = args.StepA, StepB = args.StepB, Rank = args.Rank }, ct);
    }

    /// <summary>A missing *.json(.gz) is a missing trace, not a missing bundle directory.</summary>
    private static void CheckExists(string path)
    {
        if (!File.Exists(path) && !Directory.Exists(path) && TraceInput.IsTraceFileName(path))
            throw new UsageException($"{path}: trace not found (no such file)");
    }
}
