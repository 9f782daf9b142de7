using System.Text.RegularExpressions;
using Magneton.Core.Bundles;

namespace Magneton.Core.Traces;

/// <summary>One rank's trace of a profiler trace input.</summary>
public sealed record RankTrace(int Rank, ProfilerTrace Trace, TraceIndex Index);

/// <summary>
/// A plain profiler trace input: one trace file, or a directory of per-rank trace files (what
/// torch.profiler.tensorboard_trace_handler writes, and what Holistic Trace Analysis reads). Ranks come from each
/// file's distributedInfo.rank, else from a "rank-N"/"rankN" in its name, else from its position.
/// </summary>
public sealed partial class TraceInput
{
    public string Path { get; }
    public IReadOnlyList<RankTrace> Ranks { get; }
    public bool IsDirectory { get; }

    private TraceInput(string path, IReadOnlyList<RankTrace> ranks, bool isDirectory)
    {
        Path = path;
        Ranks = ranks;
        IsDirectory = isDirectory;
    }

    /// <summary>A file named *.json or *.json.gz (or *.gz), or a directory of such files that is not a capture bundle.</summary>
    public static bool IsTracePath(string path)
    {
        if (File.Exists(path)) return IsTraceFileName(path);
        if (!Directory.Exists(path) || IsCaptureBundle(path)) return false;
        try
        {
            return TraceFiles(path).Count > 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public static bool IsTraceFileName(string path) =>
        path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".json.gz", StringComparison.OrdinalIgnoreCase)
        || path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase);

    /// <summary>A magneton capture bundle ("magneton-capture/1") rather than a directory of plain traces.</summary>
    public static bool IsCaptureBundle(string directory) =>
        File.Exists(System.IO.Path.Combine(directory, BundleFiles.Dataflow)) || File.Exists(System.IO.Path.Combine(directory, BundleFiles.Measure));

    public static TraceInput Load(string path, CancellationToken cancel = default)
    {
        if (File.Exists(path))
        {
            var trace = ProfilerTraceReader.Read(path, path, cancel);
            return new TraceInput(path, [new RankTrace(trace.Rank ?? 0, trace, TraceIndex.Build(trace))], isDirectory: false);
        }
        if (!Directory.Exists(path)) throw new BundleException(path, "file", "not found");
        var files = TraceFiles(path);
        if (files.Count == 0) throw new BundleException(path, "directory", "holds no profiler trace (*.json, *.json.gz)");

        var loaded = new RankTrace?[files.Count];
        var options = new ParallelOptions { CancellationToken = cancel, MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) };
        try
        {
            Parallel.For(0, files.Count, options, i =>
            {
                var trace = ProfilerTraceReader.Read(files[i], files[i], cancel);
                loaded[i] = new RankTrace(trace.Rank ?? RankFromName(files[i]) ?? i, trace, TraceIndex.Build(trace));
            });
        }
        catch (AggregateException a) when (a.InnerExceptions.FirstOrDefault(e => e is BundleException) is { } first)
        {
            throw first;
        }
        var ranks = loaded.Select(r => r!).OrderBy(r => r.Rank).ToList();
        for (int i = 1; i < ranks.Count; i++)
            if (ranks[i].Rank == ranks[i - 1].Rank)
                throw new BundleException(path, "distributedInfo.rank",
                    $"two traces of rank {ranks[i].Rank}: {System.IO.Path.GetFileName(ranks[i - 1].Trace.Path)} and {System.IO.Path.GetFileName(ranks[i].Trace.Path)}");
        return new TraceInput(path, ranks, isDirectory: true);
    }

    /// <summary>The rank to analyse: the one asked for, else the lowest.</summary>
    public RankTrace Select(int? rank)
    {
        if (rank is null) return Ranks[0];
        foreach (var r in Ranks)
            if (r.Rank == rank) return r;
        throw new BundleException(Path, "rank", $"has no rank {rank} (ranks: {string.Join(", ", Ranks.Select(r => r.Rank))})");
    }

    private static List<string> TraceFiles(string directory) =>
        Directory.EnumerateFiles(directory)
            .Where(f => f.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".json.gz", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToList();

    private static int? RankFromName(string file)
    {
        var m = RankPattern().Match(System.IO.Path.GetFileName(file));
        return m.Success && int.TryParse(m.Groups[1].Value, out int r) ? r : null;
    }

    [GeneratedRegex(@"rank[-_]?(\d+)", RegexOptions.IgnoreCase)]
    private static partial Regex RankPattern();
}
