using Magneton.Core;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
using Magneton.Core.Scaling;
using Magneton.Tests.Analysis;
using Xunit;

namespace Magneton.Tests.Scaling;

/// <summary>
/// The synthetic-scaling generator behind `magneton bench`: real sample pairs repeated to about 10k operators per side.
/// Its bundles must read like captures, the comparison must find exactly what was planted, and a repeated job must
/// give the findings of the real pair, repeated.
/// </summary>
public sealed class ScaledPairTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "magneton-scaling-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    ScaledPair Scale(string pair, string name, ScaleOptions options) =>
        BundleScaler.ScalePair(Samples.Bundle(pair, "A"), Samples.Bundle(pair, "B"),
            Path.Combine(_dir, name, "A"), Path.Combine(_dir, name, "B"), options);

    [Fact]
    public void DecodeStepsScaleToTheTargetAndReadAsBundles()
    {
        var scaled = Scale("llama-generate-null", "read", new ScaleOptions { TargetOperators = 10_000, PlantEvery = 4 });
        Assert.Equal(ScalingMode.DecodeSteps, scaled.Mode);
        Assert.Equal(293, scaled.TemplateOperatorsA);
        Assert.InRange(scaled.A.Operators, 9_800, 10_200);
        foreach (var side in new[] { scaled.A, scaled.B })
        {
            var bundle = BundleReader.Read(side.Directory);
            Assert.Equal(side.Operators, bundle.Dataflow.Nodes.Count);
            // One energy-pass iteration, every operator of every copy with its trace range.
            Assert.Equal(1, bundle.Kineto.Iterations);
            int traced = bundle.Dataflow.Nodes.Count(n => n.TraceId is int t && bundle.Kineto.Operators.ContainsKey(t));
            Assert.Equal(bundle.Dataflow.Nodes.Count(n => n.TraceId is not null), traced);
            Assert.Equal(side.TraceEvents, bundle.Kineto.EventCount);
            var run = Pipeline.Ingest(side.Directory);
            Assert.True(run.Energy.IterationEnergyJ > 0 && double.IsFinite(run.Energy.Closure));
        }
    }

    /// <summary>
    /// The plant (side A's SiLU dispatching the unvectorized kernel, 5x the time) leaves the graph as it is, so the
    /// regions of the planted pair are those of the unplanted one; planting exactly where the matcher isolates SiLU
    /// must give one finding on A at the activation, with one instance per plant, and nothing else.
    /// </summary>
    [Fact]
    public void PlantedDifferencesAreFoundInCountAndPlaceAndNothingElse()
    {
        var plain = Scale("llama-generate-null", "plain", new ScaleOptions { TargetOperators = 10_000, PlantEvery = 0 });
        var (ra, rb) = Pipeline.IngestPair(plain.A.Directory, plain.B.Directory);
        var unplanted = Pipeline.Compare(ra, rb, new CompareOptions());
        Assert.Empty(unplanted.Findings);

        // Where SiLU is a region of its own in the added copies: (copy, occurrence in the step). Every such site is planted:
        // one site adds ~2 mJ to a host-bound ~24 J iteration, so only together do the plants clear the 0.2% floor.
        var copyOf = CopyOfNode(plain, ra);
        var sites = new HashSet<(int, int)>();
        foreach (var r in unplanted.Regions.Where(x => x.A.Ops.Count == 1 && x.A.Ops[0] == "aten.silu.default" && x.B.Ops.SequenceEqual(x.A.Ops)))
        {
            // SiLU regions of the original steps are not in any added copy.
            foreach (var node in r.A.Nodes)
                if (copyOf.TryGetValue(node, out var at)) sites.Add(at);
        }
        Assert.True(sites.Count >= 8, $"only {sites.Count} isolated SiLU regions in planted copies");

        var planted = Scale("llama-generate-null", "planted", new ScaleOptions { TargetOperators = 10_000, PlantSites = sites });
        Assert.Equal(sites.Count, planted.Plants.Count);
        var report = Pipeline.Compare(planted.A.Directory, planted.B.Directory, new CompareOptions());
        var f = Assert.Single(report.Findings);
        Assert.Equal(Verdict.Waste, f.Verdict);
        Assert.Equal(Side.A, f.Wasteful);
        Assert.Equal(sites.Count, f.Instances);
        Assert.Equal("model.layers.*.mlp.act_fn", f.Where);
        Assert.Equal(CauseKind.KernelChoice, f.Cause.Kind);
        Assert.Contains(f.Cause.Kernels.A, k => k.Contains("unrolled_elementwise_kernel"));
        var regions = report.Regions.Where(r => f.Regions.Contains(r.Id)).ToList();
        var plantedA = planted.Plants.Select(p => p.NodeIdA).ToHashSet();
        var plantedB = planted.Plants.Select(p => p.NodeIdB).ToHashSet();
        Assert.All(regions, r => Assert.Single(r.A.Nodes, plantedA.Contains));
        Assert.All(regions, r => Assert.Single(r.B.Nodes, plantedB.Contains));
        Assert.Equal(plantedA.Order(), regions.SelectMany(r => r.A.Nodes.Where(plantedA.Contains)).Order());
        var check = ScalingBenchmark.CheckPlants(planted, report);
        Assert.Equal((sites.Count, sites.Count, 0), (check.Planted, check.Reported, check.FalseFindings));
    }

    /// <summary>Repeating the whole GPT-2 job: the real pair's one finding (gelu_new against gelu) once per copy.</summary>
    [Fact]
    public void RepeatedJobGivesTheFindingsOfTheRealPairRepeated()
    {
        var real = Samples.Compare("gpt2-gelu");
        var scaled = Scale("gpt2-gelu", "gelu", new ScaleOptions { TargetOperators = 10_000, PlantEvery = 0 });
        Assert.Equal(ScalingMode.Job, scaled.Mode);
        int copies = scaled.Copies;
        Assert.InRange(scaled.A.Operators, 9_500, 10_500);
        var report = Pipeline.Compare(scaled.A.Directory, scaled.B.Directory, new CompareOptions());

        Assert.Equal(copies * real.Regions.Count, report.Regions.Count);
        Assert.Equal(copies * real.Matching.CutPoints, report.Matching.CutPoints);
        Assert.Equal(real.Matching.ACoverage, report.Matching.ACoverage);
        Assert.Equal(real.Matching.BCoverage, report.Matching.BCoverage);
        Assert.Equal(real.Findings.Count, report.Findings.Count);
        for (int i = 0; i < real.Findings.Count; i++)
        {
            var (r, s) = (real.Findings[i], report.Findings[i]);
            Assert.Equal((r.Verdict, r.Wasteful, r.Where, r.Cause.Kind, r.Category), (s.Verdict, s.Wasteful, s.Where, s.Cause.Kind, s.Category));
            Assert.Equal(copies * r.Instances, s.Instances);
            Assert.Equal(r.Cause.EfficientOps, s.Cause.EfficientOps);
            Assert.InRange(s.EnergyRatio, r.EnergyRatio * 0.9, r.EnergyRatio * 1.1);
        }
        // The finding's regions have the real pair's shape: A's eight tanh-formula ops against B's one gelu.
        var realRegion = real.Regions.Single(x => x.Id == real.Findings[0].Regions[0]);
        Assert.All(report.Regions.Where(x => report.Findings[0].Regions.Contains(x.Id)), x =>
        {
            Assert.Equal(realRegion.A.Ops, x.A.Ops);
            Assert.Equal(realRegion.B.Ops, x.B.Ops);
        });
    }

    /// <summary>Large segments are matched on several threads; the regions must be those of one thread, in the same order.</summary>
    [Fact]
    public void ParallelMatchingGivesTheRegionsOfSequentialMatching()
    {
        var scaled = Scale("llama-generate-null", "parallel", new ScaleOptions { TargetOperators = 30_000 });
        var (a, b) = Pipeline.IngestPair(scaled.A.Directory, scaled.B.Directory);
        var s = Pipeline.Prepare(a, b, new CompareOptions());
        Assert.Contains(s.Segments, x => x.NodesA.Length + x.NodesB.Length >= 8192);
        var parallel = s.Segments.SelectMany(x => SubgraphMatcher.MatchSegment(s, x)).ToList();
        var sequential = s.Segments.SelectMany(x => SubgraphMatcher.MatchSegment(s, x, parallel: false)).ToList();
        Assert.Equal(sequential.Count, parallel.Count);
        for (int i = 0; i < sequential.Count; i++)
        {
            Assert.Equal(sequential[i].NodesA, parallel[i].NodesA);
            Assert.Equal(sequential[i].NodesB, parallel[i].NodesB);
            Assert.Equal(sequential[i].Depth, parallel[i].Depth);
        }
    }

    /// <summary>Copy index and occurrence of SiLU within its step for every operator index of side A.</summary>
    static Dictionary<int, (int Copy, int Occurrence)> CopyOfNode(ScaledPair pair, Magneton.Core.Runs.Run a)
    {
        var result = new Dictionary<int, (int, int)>();
        int n = a.Operators.Length, len = pair.TemplateOperatorsA;
        int firstCopy = n - (pair.Copies - 1) * len; // the original graph comes first, then the added copies
        for (int c = 1; c < pair.Copies; c++)
        {
            int occurrence = 0;
            for (int i = firstCopy + (c - 1) * len; i < firstCopy + c * len; i++)
                if (a.Operators[i].Op == "aten.silu.default") result[a.Operators[i].Id] = (c, occurrence++);
        }
        return result;
    }
}
