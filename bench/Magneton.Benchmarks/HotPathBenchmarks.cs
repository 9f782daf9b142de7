using BenchmarkDotNet.Attributes;
using Magneton.Core;
using Magneton.Core.Matching;
using Magneton.Core.Runs;
using Magneton.Core.Scaling;

/// <summary>
/// The hot paths one by one, on a real pair and on the same pair scaled to about 25k operators a side (decode steps
/// repeated by the bench generator), so a change that makes one of them superlinear shows. From the repo root:
/// dotnet run -c Release --project bench/Magneton.Benchmarks -- --filter '*HotPath*'
/// </summary>
[MemoryDiagnoser]
public class HotPathBenchmarks
{
    Run _a = null!, _b = null!;
    MatchSession _session = null!;
    int[] _pathA = null!, _pathB = null!;
    string _kineto = null!, _dataflow = null!, _temp = "";

    [Params("llama-generate-null", "llama-x10")]
    public string Pair { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var root = MatchingBenchmarks.FindRoot();
        var dirs = Directory.GetDirectories(Path.Combine(root, "samples", "llama-generate-null")).OrderBy(d => d).ToArray();
        var (dirA, dirB) = (dirs[0], dirs[1]);
        if (Pair == "llama-x10")
        {
            _temp = Path.Combine(Path.GetTempPath(), "magneton-hotpaths-" + Environment.ProcessId);
            var scaled = BundleScaler.ScalePair(dirA, dirB, Path.Combine(_temp, "A"), Path.Combine(_temp, "B"),
                new ScaleOptions { TargetOperators = 25_000 });
            (dirA, dirB) = (scaled.A.Directory, scaled.B.Directory);
        }
        _kineto = Path.Combine(dirA, "kineto.json.gz");
        _dataflow = Path.Combine(dirA, "dataflow.json");
        (_a, _b) = Pipeline.IngestPair(dirA, dirB);
        _session = Pipeline.Prepare(_a, _b, new CompareOptions());
        _pathA = HotPaths.DominatorPath(_a);
        _pathB = HotPaths.DominatorPath(_b);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_temp.Length > 0 && Directory.Exists(_temp)) Directory.Delete(_temp, recursive: true);
    }

    /// <summary>kineto.json.gz: gunzip, token scan, reduction to per-operator GPU work.</summary>
    [Benchmark]
    public long TraceReader() => HotPaths.ReadTrace(_kineto);

    /// <summary>dataflow.json: streamed, each node and value read straight from the tokens.</summary>
    [Benchmark]
    public int DataflowReader() => HotPaths.ReadDataflow(_dataflow);

    /// <summary>Fingerprint equivalence of every produced value (buckets, std and mean windows).</summary>
    [Benchmark]
    public int FingerprintEquivalence() => HotPaths.ValueEquivalence(_a, _b);

    /// <summary>Dominators of the whole graph (one forward pass in topological order).</summary>
    [Benchmark]
    public int DominatorComputation() => HotPaths.DominatorPath(_a).Length + HotPaths.DominatorPath(_b).Length;

    /// <summary>Cut points on the two whole-graph dominator paths (exact LCS or greedy, from equivalence partners).</summary>
    [Benchmark]
    public int CutPoints() => HotPaths.CutPoints(_session, _pathA, _pathB);

    /// <summary>Segment matching of every segment (dominator paths, cuts, branches, ancestor splits; large pieces in parallel).</summary>
    [Benchmark]
    public int MatchSegments() => _session.Segments.Sum(s => Pipeline.MatchSegment(_session, s).Count);
}
