using Magneton.Core.Runs;

namespace Magneton.Core.Matching;

/// <summary>
/// Where a cut may fall, beyond the two operators' outputs being equivalent. A cut decides what a region holds, and
/// a region that holds a step on one side but only part of it on the other inflates the difference: the rest of the
/// step lands in the next region beside identical operators. Two rules keep steps whole:
/// <list type="bullet">
/// <item>No cut right before an identity: an operator that does GPU work and whose output equals one of its inputs
/// (a zero bias add, a multiply by one, a copy) stays in its producer's region, when it runs in the producer's module
/// call or its caller's. Its producer's output is then equivalent to the other side's fused result as well, and
/// would otherwise be the cut.</item>
/// <item>No cut that splits a module call on one side only: when more computing operators of the same module call
/// follow the cut operator on one side (an unfused GEMM's bias add) and none on the other (the fused GEMM), the
/// region extends to the end of the call.</item>
/// </list>
/// </summary>
public sealed class CutRules
{
    readonly bool[] _feedsIdentityA, _feedsIdentityB, _splitsCallA, _splitsCallB;

    CutRules(bool[] feedsIdentityA, bool[] feedsIdentityB, bool[] splitsCallA, bool[] splitsCallB)
    {
        _feedsIdentityA = feedsIdentityA;
        _feedsIdentityB = feedsIdentityB;
        _splitsCallA = splitsCallA;
        _splitsCallB = splitsCallB;
    }

    /// <summary>No rule forbids cutting after A's operator <paramref name="a"/> and B's <paramref name="b"/>.</summary>
    public bool Allowed(int a, int b) =>
        !_feedsIdentityA[a] && !_feedsIdentityB[b] && _splitsCallA[a] == _splitsCallB[b];

    public static CutRules Build(Run a, Run b, double tolerance) =>
        new(FeedsIdentity(a, tolerance), FeedsIdentity(b, tolerance), SplitsCall(a), SplitsCall(b));

    /// <summary>
    /// Operators whose output an identity that launches GPU work consumes and reproduces, through views (a permute
    /// then a contiguous copy), where the identity runs in the producer's module call or its caller's (a bias add in
    /// the GEMM's module, a scale in the block): an identity that starts another module's call is that call's work.
    /// </summary>
    static bool[] FeedsIdentity(Run r, double tolerance)
    {
        var result = new bool[r.Operators.Length];
        foreach (var y in r.Operators)
        {
            if (y.Node.Out.Length != 1 || y.ParameterDerived || (y.GpuSeconds <= 0 && y.Kernels.Count == 0)) continue;
            var output = r.Values[y.Node.Out[0]];
            foreach (int v in y.Node.In)
            {
                if (!Fingerprint.Equivalent(r.Values[v], output, tolerance)) continue;
                for (int p = ProducerOf(r, v); p >= 0 && Within(r.Operators[p].Module, y.Module); )
                {
                    result[p] = true;
                    var op = r.Operators[p];
                    if (!op.IsPureView || op.Node.In.Length == 0) break;
                    p = ProducerOf(r, op.Node.In[0]);
                }
            }
        }
        return result;
    }

    static int ProducerOf(Run r, int value) =>
        r.Values.TryGetValue(value, out var v) && v.Producer is int node && r.IndexOfNode.TryGetValue(node, out int index) ? index : -1;

    /// <summary>
    /// Operators after which the call of their own module goes on computing: the next computing operator in
    /// execution order is in the same module (or one nested in it) and so is everything between (views).
    /// </summary>
    static bool[] SplitsCall(Run r)
    {
        var ops = r.Operators;
        var result = new bool[ops.Length];
        int next = -1;
        for (int i = ops.Length - 1; i >= 0; i--)
        {
            string module = ops[i].Module;
            if (next >= 0 && module.Length > 0)
            {
                bool inside = true;
                for (int j = i + 1; j <= next && inside; j++) inside = Within(ops[j].Module, module);
                result[i] = inside;
            }
            if (Computes(ops[i])) next = i;
        }
        return result;
    }

    static bool Computes(Operator o) => !o.IsPureView && !o.ParameterDerived && o.Node.Out.Length > 0;

    // The top level ("" : no module) is every module's caller.
    static bool Within(string module, string call) =>
        call.Length == 0 || module.Length >= call.Length && module.StartsWith(call, StringComparison.Ordinal) &&
        (module.Length == call.Length || module[call.Length] == '.');
}
