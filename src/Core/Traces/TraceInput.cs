using System.Text.RegularExpressions;
using Magneton.Core.Bundles;

namespace Magneton.Core.Traces;

/// <summary>Where a trace's rank number came from.</summary>
public enum RankSource : byte
{
    /// <summary>The trace's distributedInfo.rank.</summary>
    Trace,
    /// <summary>A "rank-N"/"rankN" in the file name.</summary>
    FileName,
    /// <summary>Nothing says: a single trace is rank 0, the files of a directory are numbered in name order.</summary>
    None,
}

/// <summary>One rank's trace of a profiler trace input.</summary>
public sealed record RankTrace(int Rank, ProfilerTrace Trace, TraceIndex Index)
{
    public RankSource Source { get; init; } = RankSource.Trace;
}

/// <summary>
/// A plain profiler trace input: one trace file, or a directory of per-rank trace files (what
/// torch.profiler.tensorboard_trace_handler writes, and what Holistic Trace Analysis reads). Ranks come from each
/// file's distributedInfo.rank, else from a "rank-N"/"rankN" in its name. A directory whose traces say nothing of
/// ranks is not taken for one job: its files are numbered in name order and <see cref="Notes"/> says so. A JSON file
/// in the directory that is not a trace at all is skipped with a note.
/// </summary>
public sealed partial class TraceInput
{
    public string Path { get; }
    public IReadOnlyList<RankTrace> Ranks { get; }
    public bool IsDirectory { get; }
    /// <summary>What a report should say about how the input was read (files skipped, ranks numbered by position).</summary>
    public IReadOnlyList<string> Notes { get; }

    private TraceInput(string path, IReadOnlyList<RankTrace> ranks, bool isDirectory, IReadOnlyList<string>? notes = null)
    {
        Path = path;
        Ranks = ranks;
        IsDirectory = isDirectory;
        Notes = notes ?? [];
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
            var only = new RankTrace(trace.Rank ?? 0, trace, TraceIndex.Build(trace)) { Source = trace.Rank is null ? RankSource.None : RankSource.Trace };
            return new TraceInput(path, [only], isDirectory: false);
        }
        if (!Directory.Exists(path)) throw new BundleException(path, "file", "not found");
        var files = TraceFiles(path);
        if (files.Count == 0) throw new BundleException(path, "directory", "holds no profiler trace (*.json, *.json.gz)");

        var loaded = new ProfilerTrace?[files.Count];
        var skipped = new string?[files.Count];
        var options = new ParallelOptions { CancellationToken = cancel, MaxDegreeOfParallelism = Math.Max(1, Environment.ProcessorCount) };
        try
        {
            Parallel.For(0, files.Count, options, i =>
            {
                try
                {
                    loaded[i] = ProfilerTraceReader.Read(files[i], files[i], cancel);
                }
                catch (NotATraceException e)
                {
                    skipped[i] = $"{System.IO.Path.GetFileName(files[i])} ({e.Field}: {e.Problem})";
                }
            });
        }
        catch (AggregateException a) when (a.InnerExceptions.FirstOrDefault(e => e is BundleException) is { } first)
        {
            throw first;
        }
        var notes = new List<string>();
        var skippedNames = skipped.Where(s => s is not null).ToList();
        if (skippedNames.Count > 0) notes.Add($"{path}: skipped {skippedNames.Count} JSON file{(skippedNames.Count == 1 ? "" : "s")} that {(skippedNames.Count == 1 ? "is" : "are")} not a profiler trace: {string.Join("; ", skippedNames)}");
        var traces = loaded.Where(t => t is not null).Select(t => t!).ToList();
        if (traces.Count == 0) throw new BundleException(path, "directory", $"holds no profiler trace: {string.Join("; ", skippedNames)}");
        var ranks = Numbered(path, traces, notes);
        return new TraceInput(path, ranks, isDirectory: true, notes);
    }

    /// <summary>
    /// Ranks from the traces or their names; when nothing says, numbered in name order and said so, rather than
    /// passed off as ranks of one job.
    /// </summary>
    private static List<RankTrace> Numbered(string path, List<ProfilerTrace> traces, List<string> notes)
    {
        bool anyRank = traces.Any(t => t.Rank is not null || RankFromName(t.Path) is not null);
        var ranks = new List<RankTrace>(traces.Count);
        for (int i = 0; i < traces.Count; i++)
        {
            var t = traces[i];
            var (rank, source) = t.Rank is { } r ? (r, RankSource.Trace)
                : RankFromName(t.Path) is { } n ? (n, RankSource.FileName)
                : (i, RankSource.None);
            ranks.Add(new RankTrace(rank, t, TraceIndex.Build(t)) { Source = source });
        }
        if (!anyRank && traces.Count > 1)
            notes.Add($"{path}: {traces.Count} traces without rank information (no distributedInfo.rank, no rank-N in their names), so not taken for the ranks of one job: "
                      + $"numbered in file name order ({string.Join(", ", ranks.Select(r => $"{r.Rank} = {System.IO.Path.GetFileName(r.Trace.Path)}"))}); --rank N picks the N-th file");
        ranks.Sort((x, y) => x.Rank.CompareTo(y.Rank));
        for (int i = 1; i < ranks.Count; i++)
            if (ranks[i].Rank == ranks[i - 1].Rank)
                throw new BundleException(path, "distributedInfo.rank",
                    $"two traces of rank {ranks[i].Rank}: {System.IO.Path.GetFileName(ranks[i - 1].Trace.Path)} and {System.IO.Path.GetFileName(ranks[i].Trace.Path)}");
        return ranks;
    }

    /// <summary>The rank to analyse: the one asked for, else the lowest. A rank the input does not hold is refused.</summary>
    public RankTrace Select(int? rank)
    {
        if (rank is null) return Ranks[0];
        foreach (var r in Ranks)
            if (r.Rank == rank) return r;
        if (!IsDirectory && Ranks[0].Source == RankSource.None)
            throw new BundleException(Path, "rank", $"has no rank {rank}: a single trace without distributedInfo.rank (read as rank 0)");
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
