using Magneton.Core.Bundles;
using Magneton.Core.Matching;
using Magneton.Core.Runs;

namespace Magneton.Core.Scaling;

/// <summary>
/// The hot paths of a comparison, one call each, for the BenchmarkDotNet project (which sees only public API):
/// the trace reader, value equivalence, dominator paths and cut points.
/// </summary>
public static class HotPaths
{
    /// <summary>Streams and reduces a kineto.json.gz; returns the number of events read.</summary>
    public static long ReadTrace(string kinetoGz) => KinetoReader.Read(kinetoGz).EventCount;

    /// <summary>Reads a dataflow.json; returns the number of operators.</summary>
    public static int ReadDataflow(string dataflowJson) => DataflowReader.Read(dataflowJson).Nodes.Count;

    /// <summary>Fingerprint equivalence of all produced values of A against B; returns the matched A values.</summary>
    public static int ValueEquivalence(Run a, Run b) => Matching.ValueEquivalence.Build(a, b).EquivalentValueCount;

    /// <summary>The dominator path of the whole graph, from its virtual entry to its last operator.</summary>
    public static int[] DominatorPath(Run r)
    {
        var nodes = Enumerable.Range(0, r.Operators.Length).ToArray();
        return GraphAlgorithms.DominatorPath(r, -1, r.Operators.Length - 1, nodes);
    }

    /// <summary>Cut points of the top-level segment pair (the longest monotone pairing of equivalent path operators).</summary>
    public static int CutPoints(MatchSession s, int[] pathA, int[] pathB) => SubgraphMatcher.Cuts(s, pathA, pathB).Count;
}
