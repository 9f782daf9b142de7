using Magneton.Core;
using Xunit;

namespace Magneton.Tests.Architecture;

/// <summary>
/// Core's namespaces form a graph without cycles, so that each can be read (and moved to its own project) after the
/// ones it uses: the method (Runs, Energy, Matching, Detection, Diagnosis) without the reports, the reports without
/// the pipeline that drives them. A failure names the cycle and, per step, one type that makes it.
/// </summary>
public class NamespaceCycleTests
{
    static readonly NamespaceGraph Core = NamespaceGraph.Of(typeof(Pipeline).Assembly, "Magneton.Core");

    [Fact]
    public void CoreNamespacesHaveNoCycle()
    {
        var cycles = Core.Cycles();
        Assert.True(cycles.Count == 0,
            $"Magneton.Core has {cycles.Count} namespace cycle(s):\n" + string.Join("\n", cycles.Select(Core.Explain)));
    }

    /// <summary>The reader sees uses through signatures and IL alike: known edges of the shipped assembly are there.</summary>
    [Fact]
    public void GraphSeesUsesThroughSignaturesAndMethodBodies()
    {
        Assert.Contains("Magneton.Core.Runs", Core.Namespaces);
        Assert.Contains("Magneton.Core.Bundles", Core.Namespaces);
        // Run holds its Bundle (a property: signature); Pipeline.Ingest calls BundleReader.Read (IL only).
        Assert.Contains(("Magneton.Core.Runs", "Magneton.Core.Bundles"), Core.Edges.Keys);
        Assert.Contains(("Magneton.Core", "Magneton.Core.Bundles"), Core.Edges.Keys);
        Assert.DoesNotContain(Core.Edges.Keys, e => e.From == e.To);
    }

    /// <summary>A failure must say where the cycle is: a made-up two-namespace cycle is described step by step.</summary>
    [Fact]
    public void CycleIsNamedWithTheTypesThatMakeIt()
    {
        var graph = NamespaceGraph.Of(typeof(NamespaceCycleTests).Assembly, "Magneton.Tests.Architecture.Sample");
        var cycle = Assert.Single(graph.Cycles());
        Assert.Equal(["Magneton.Tests.Architecture.Sample.A", "Magneton.Tests.Architecture.Sample.B"], cycle);
        Assert.Equal("Magneton.Tests.Architecture.Sample.A -> Magneton.Tests.Architecture.Sample.B "
            + "(Magneton.Tests.Architecture.Sample.A.Left uses Magneton.Tests.Architecture.Sample.B.Right) -> "
            + "Magneton.Tests.Architecture.Sample.A (Magneton.Tests.Architecture.Sample.B.Right uses Magneton.Tests.Architecture.Sample.A.Left)",
            graph.Describe(cycle));
        // C uses B (a local, IL only) but nothing uses C: an edge, no cycle.
        Assert.Contains(("Magneton.Tests.Architecture.Sample.C", "Magneton.Tests.Architecture.Sample.B"), graph.Edges.Keys);
    }
}

