using Magneton.Core.Matching;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using Magneton.Core;
using Magneton.Core.Runs;

BenchmarkSwitcher.FromAssembly(typeof(MatchingBenchmarks).Assembly).Run(args);

/// <summary>
/// Hot paths of a comparison on the real samples. Run from the repo root:
/// dotnet run -c Release --project bench/Magneton.Benchmarks -- --filter '*'
/// </summary>
[MemoryDiagnoser]
public class MatchingBenchmarks
{
    Run _a = null!, _b = null!;
    string _dirA = null!, _dirB = null!;

    [Params("llama-generate-null", "gpt2-gelu")]
    public string Pair { get; set; } = "";

    [GlobalSetup]
    public void Setup()
    {
        var root = FindRoot();
        var dirs = Directory.GetDirectories(Path.Combine(root, "samples", Pair)).OrderBy(d => d).ToArray();
        (_dirA, _dirB) = (dirs[0], dirs[1]);
        _a = Pipeline.Ingest(_dirA);
        _b = Pipeline.Ingest(_dirB);
    }

    /// <summary>Value equivalence, subgraph matching of every segment, and detection: the matching.elapsed_ms span.</summary>
    [Benchmark]
    public int MatchAndDetect()
    {
        var s = Pipeline.Prepare(_a, _b, new CompareOptions());
        var regions = s.Segments.SelectMany(seg => Pipeline.MatchSegment(s, seg)).ToList();
        regions = Magneton.Core.Matching.RegionMatch.Assemble(s, regions);
        return Pipeline.Detect(s, regions).Count + regions.Count;
    }

    /// <summary>Reading and modelling one bundle (dataflow, streamed kineto trace, CSVs, energy model).</summary>
    [Benchmark]
    public int IngestBundle() => Pipeline.Ingest(_dirA).Operators.Length;

    internal static string FindRoot()
    {
        for (var d = new DirectoryInfo(Environment.CurrentDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Magneton.sln"))) return d.FullName;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Magneton.sln"))) return d.FullName;
        throw new InvalidOperationException("run from inside the repository");
    }
}
