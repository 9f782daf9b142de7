using Magneton.Core.Runs;

namespace Magneton.Core.Matching;

/// <summary>The two runs, their value equivalence and the top-level segments to match.</summary>
public sealed class MatchSession
{
    public required Run A { get; init; }
    public required Run B { get; init; }
    public required CompareOptions Options { get; init; }
    public required ValueEquivalence Values { get; init; }
    public required IReadOnlyList<Segment> Segments { get; init; }
    /// <summary>Operators that produce only parameter-derived values (weight transposes, aranges): never cuts.</summary>
    internal bool[] ParamOnlyA { get; init; } = [];
    internal bool[] ParamOnlyB { get; init; } = [];
    /// <summary>Which equivalent pairs may be cuts: steps (module calls, identities) are not split on one side only.</summary>
    public CutRules CutRules { get; init; } = null!;
    /// <summary>B operators by their first output value (CSR over value ids): where equivalent operators are looked up.</summary>
    int[] _firstOutStartB = [0];
    int[] _firstOutOpsB = [];

    public static MatchSession Create(Run a, Run b, CompareOptions options)
    {
        if (!(options.OutputTolerance > 0 && options.OutputTolerance < 1))
            throw new ArgumentOutOfRangeException(nameof(options), options.OutputTolerance, "OutputTolerance must be above 0 and below 1");
        var eq = ValueEquivalence.Build(a, b, options.OutputTolerance);
        var pa = ParamOnly(a);
        var pb = ParamOnly(b);
        var (start, ops) = FirstOutputIndex(b);
        var top = TopSegments(a, b, eq, pa, pb);
        var rules = CutRules.Build(a, b, options.OutputTolerance);
        var session = new MatchSession
        {
            A = a, B = b, Options = options, Values = eq, Segments = top, ParamOnlyA = pa, ParamOnlyB = pb,
            _firstOutStartB = start, _firstOutOpsB = ops, CutRules = rules,
        };
        // Hand out the first level of cuts (per block, per decode step) rather than whole graphs, so that a
        // cluster can spread the matching over workers.
        var expanded = top.SelectMany(seg => SubgraphMatcher.FirstLevel(session, seg))
            .Select((seg, i) => seg with { Id = i + 1 }).ToList();
        return new MatchSession
        {
            A = a, B = b, Options = options, Values = eq, Segments = expanded, ParamOnlyA = pa, ParamOnlyB = pb,
            _firstOutStartB = start, _firstOutOpsB = ops, CutRules = rules,
        };
    }

    static (int[] Start, int[] Ops) FirstOutputIndex(Run b)
    {
        int max = -1;
        foreach (var op in b.Operators) if (op.Node.Out.Length > 0) max = Math.Max(max, op.Node.Out[0]);
        var start = new int[max + 2];
        foreach (var op in b.Operators) if (op.Node.Out.Length > 0) start[op.Node.Out[0] + 1]++;
        for (int i = 1; i < start.Length; i++) start[i] += start[i - 1];
        var fill = (int[])start.Clone();
        var ops = new int[start[^1]];
        foreach (var op in b.Operators) if (op.Node.Out.Length > 0) ops[fill[op.Node.Out[0]]++] = op.Index;
        return (start, ops);
    }

    /// <summary>
    /// Every B operator <c>y</c> with <c>OperatorsEquivalent(indexA, y)</c> that <see cref="CutRules"/> allow as a cut with
    /// it, in no particular order: the places where matching may split (cuts, branch exits, ancestor splits). The
    /// candidates come from the partners of A's first output, so the cost is that of the answer, not of B.
    /// </summary>
    public void EquivalentInB(int indexA, List<int> into)
    {
        into.Clear();
        if (ParamOnlyA[indexA]) return;
        var oa = A.Operators[indexA].Node.Out;
        if (oa.Length == 0) return;
        foreach (int w in Values.PartnersOf(oa[0]))
        {
            if ((uint)w + 1 >= (uint)_firstOutStartB.Length) continue;
            for (int k = _firstOutStartB[w]; k < _firstOutStartB[w + 1]; k++)
            {
                int y = _firstOutOpsB[k];
                if (OperatorsEquivalent(indexA, y) && CutRules.Allowed(indexA, y)) into.Add(y);
            }
        }
    }

    /// <summary>Both operators' outputs pairwise equivalent (same count, in order): a possible cut.</summary>
    public bool OperatorsEquivalent(int indexA, int indexB)
    {
        if (ParamOnlyA[indexA] || ParamOnlyB[indexB]) return false;
        var oa = A.Operators[indexA].Node.Out;
        var ob = B.Operators[indexB].Node.Out;
        if (oa.Length == 0 || oa.Length != ob.Length) return false;
        for (int i = 0; i < oa.Length; i++)
            if (!Values.Equivalent(oa[i], ob[i])) return false;
        return true;
    }

    static bool[] ParamOnly(Run r) => r.Operators.Select(o => o.ParameterDerived).ToArray();

    /// <summary>
    /// The top level: each graph from its virtual entry to its last operator (the job's result). Operators
    /// that do not feed the result (dead ends) are matched afterwards, sink by sink, where the other side
    /// has an equivalent sink.
    /// </summary>
    static List<Segment> TopSegments(Run a, Run b, ValueEquivalence eq, bool[] pa, bool[] pb)
    {
        var segments = new List<Segment>();
        var takenA = new bool[a.Operators.Length];
        var takenB = new bool[b.Operators.Length];
        int sinkA = LastWithOutput(a, takenA), sinkB = LastWithOutput(b, takenB);
        if (sinkA < 0 || sinkB < 0) return segments;
        var nodesA = GraphAlgorithms.ReachingBackward(a, sinkA, takenA);
        var nodesB = GraphAlgorithms.ReachingBackward(b, sinkB, takenB);
        segments.Add(new Segment(1, -1, -1, sinkA, sinkB, nodesA, nodesB));
        foreach (var n in nodesA) takenA[n] = true;
        foreach (var n in nodesB) takenB[n] = true;

        // Dead-end sinks: pair them in order where outputs are equivalent.
        var restA = Sinks(a, takenA, pa);
        var restB = Sinks(b, takenB, pb);
        int j = 0;
        foreach (var sa in restA)
        {
            if (takenA[sa]) continue;
            for (int k = j; k < restB.Count; k++)
            {
                var sb = restB[k];
                if (takenB[sb] || !OutputsEquivalent(a, b, eq, sa, sb)) continue;
                // A dead end may compute from constants only (a mask check on position ids): follow
                // parameter edges too, or it would be left out of every region.
                var na = GraphAlgorithms.ReachingBackward(a, sa, takenA, parameterEdges: true);
                var nb = GraphAlgorithms.ReachingBackward(b, sb, takenB, parameterEdges: true);
                foreach (var n in na) takenA[n] = true;
                foreach (var n in nb) takenB[n] = true;
                segments.Add(new Segment(segments.Count + 1, -1, -1, sa, sb, na, nb));
                j = k + 1;
                break;
            }
        }
        return segments;
    }

    static bool OutputsEquivalent(Run a, Run b, ValueEquivalence eq, int ia, int ib)
    {
        var oa = a.Operators[ia].Node.Out;
        var ob = b.Operators[ib].Node.Out;
        if (oa.Length == 0 || oa.Length != ob.Length) return false;
        for (int i = 0; i < oa.Length; i++) if (!eq.Equivalent(oa[i], ob[i])) return false;
        return true;
    }

    static int LastWithOutput(Run r, bool[] taken)
    {
        for (int i = r.Operators.Length - 1; i >= 0; i--)
            if (!taken[i] && r.Operators[i].Node.Out.Length > 0) return i;
        return -1;
    }

    // Unclaimed operators that no unclaimed operator consumes, newest first: the ends of dead-end branches.
    static List<int> Sinks(Run r, bool[] taken, bool[] paramOnly)
    {
        var list = new List<int>();
        for (int i = r.Operators.Length - 1; i >= 0; i--)
        {
            var op = r.Operators[i];
            if (taken[i] || op.Node.Out.Length == 0) continue;
            bool deadEnd = op.Successors.All(s => taken[s] || r.Operators[s].Node.Out.Length == 0);
            // A parameter-derived operator is a sink only if nothing computing reads it: a transposed weight
            // belongs to the layer that uses it.
            if (paramOnly[i]) deadEnd &= op.ParameterConsumers.All(c => r.Operators[c].Node.Out.Length == 0);
            if (deadEnd) list.Add(i);
        }
        return list;
    }
}
