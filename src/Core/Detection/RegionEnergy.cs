using Magneton.Core.Energy;
using Magneton.Core.Runs;

namespace Magneton.Core.Detection;

/// <summary>
/// The energies of a region pair as the ratio sees them. Where both sides are exactly replayed module calls, the
/// replayed energies (primary; the in-situ model is the cross-check). Otherwise the in-situ model, with operators
/// matched one-to-one (same op, same input signature, same kernels) sharing one energy, the mean of the two runs'
/// (common mode): run-to-run power drift of identical work cancels, and only the operators that differ move the ratio.
/// </summary>
public sealed record RegionEnergy(EnergyBasis Basis, EnergyEstimate Common, EnergyEstimate ExtraA, EnergyEstimate ExtraB)
{
    /// <summary>On the replay basis: the same pair in the in-situ model, the cross-check.</summary>
    public RegionEnergy? InSitu { get; init; }
    public EnergyEstimate A => new(Common.ValueJ + ExtraA.ValueJ, 0);
    public EnergyEstimate B => new(Common.ValueJ + ExtraB.ValueJ, 0);

    public static RegionEnergy Of(Run a, int[] nodesA, RegionSide sa, Run b, int[] nodesB, RegionSide sb)
    {
        var inSitu = CommonMode(a, nodesA, b, nodesB);
        return sa.Replay is { } ra && sb.Replay is { } rb
            ? new RegionEnergy(EnergyBasis.Replay, default, ra, rb) { InSitu = inSitu }
            : inSitu;
    }

    static RegionEnergy CommonMode(Run a, int[] nodesA, Run b, int[] nodesB)
    {
        var byKey = new Dictionary<string, Queue<Operator>>(StringComparer.Ordinal);
        foreach (var i in nodesB)
        {
            var op = b.Operators[i];
            if (op.GpuSeconds <= 0) continue;
            var key = Key(b, op);
            if (!byKey.TryGetValue(key, out var q)) byKey[key] = q = new Queue<Operator>();
            q.Enqueue(op);
        }
        var pairedB = new HashSet<int>();
        var common = new EnergyEstimate(0, 0);
        var extraA = new EnergyEstimate(0, 0);
        foreach (var i in nodesA)
        {
            var op = a.Operators[i];
            if (op.GpuSeconds <= 0) continue;
            if (byKey.TryGetValue(Key(a, op), out var q) && q.Count > 0)
            {
                var twin = q.Dequeue();
                pairedB.Add(twin.Index);
                common += new EnergyEstimate((op.EnergyJ + twin.EnergyJ) / 2, (op.EnergySigmaJ + twin.EnergySigmaJ) / 2);
            }
            else extraA += new EnergyEstimate(op.EnergyJ, op.EnergySigmaJ);
        }
        var extraB = new EnergyEstimate(0, 0);
        foreach (var i in nodesB)
        {
            var op = b.Operators[i];
            if (op.GpuSeconds > 0 && !pairedB.Contains(i)) extraB += new EnergyEstimate(op.EnergyJ, op.EnergySigmaJ);
        }
        return new RegionEnergy(EnergyBasis.InSitu, common, extraA, extraB);
    }

    /// <summary>Instances of one cause together: the replay basis only where every instance has it.</summary>
    public static RegionEnergy Sum(IReadOnlyCollection<RegionEnergy> parts)
    {
        var same = OnOneBasis(parts);
        if (same.Count > 0 && same[0].Basis == EnergyBasis.Replay)
            return Add(EnergyBasis.Replay, same) with { InSitu = Add(EnergyBasis.InSitu, same.Select(p => p.InSitu!).ToList()) };
        return Add(EnergyBasis.InSitu, same);
    }

    /// <summary>The parts as <see cref="Sum"/> adds them: all replayed where every part is, else all in situ.</summary>
    public static IReadOnlyList<RegionEnergy> OnOneBasis(IReadOnlyCollection<RegionEnergy> parts) =>
        parts.All(p => p.Basis == EnergyBasis.Replay) ? parts.ToList() : parts.Select(p => p.InSitu ?? p).ToList();

    static RegionEnergy Add(EnergyBasis basis, IReadOnlyCollection<RegionEnergy> parts) => new(basis,
        EnergyEstimate.Sum(parts.Select(p => p.Common)),
        EnergyEstimate.Sum(parts.Select(p => p.ExtraA)),
        EnergyEstimate.Sum(parts.Select(p => p.ExtraB)));

    /// <summary>
    /// (common + extra of one side) over (common + extra of the other) with its interval. The common part's error
    /// moves both sides alike, so it enters only through the difference of the two sides' sensitivities to it.
    /// </summary>
    public RatioInterval Ratio(bool aOverB, double cap)
    {
        var (xn, xd) = aOverB ? (ExtraA, ExtraB) : (ExtraB, ExtraA);
        double n = Common.ValueJ + xn.ValueJ, d = Common.ValueJ + xd.ValueJ;
        if (d <= 0 || n <= 0) return RatioInterval.Of(new(n, 0), new(d, 0), cap);
        double sc = Common.SigmaJ * (1 / n - 1 / d);
        double logSigma = Math.Sqrt(sc * sc + Square(xn.SigmaJ / n) + Square(xd.SigmaJ / d));
        return RatioInterval.FromLogSigma(n / d, logSigma, cap);
    }

    static string Key(Run run, Operator op) =>
        EnergyModel.Signature(run, op) + "#" + string.Join(";", op.Kernels.Select(k => k.Name));

    static double Square(double x) => x * x;
}
