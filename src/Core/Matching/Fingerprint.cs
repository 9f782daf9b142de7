using Magneton.Core.Bundles;

namespace Magneton.Core.Matching;

/// <summary>
/// Layout-invariant comparison of two tensor values from their fingerprints (stats, deciles, spectra).
/// Permute and reshape only reorder elements, so element count, moments and quantiles survive them.
/// Differences are measured against the tensor's RMS: that scale is meaningful for zero-mean activations
/// and keeps the test independent of the absolute magnitude.
/// </summary>
public static class Fingerprint
{
    /// <summary>
    /// Relative tolerance on moments and quantiles. bf16 rounding (~0.4% per element) and tf32 vs fp32
    /// (~1e-3) both stay well inside it; the topology of the matcher, not this number, keeps look-alike
    /// tensors (two random projections) apart.
    /// </summary>
    public const double DefaultTolerance = 0.02;

    public static bool IsFloat(DataflowValue v) => v.Stats is not null;

    public static double Rms(FloatStats s)
    {
        double r = Math.Sqrt(s.Mean * s.Mean + s.Std * s.Std);
        return double.IsFinite(r) ? r : 0;
    }

    public static bool Equivalent(DataflowValue a, DataflowValue b, double tol = DefaultTolerance)
    {
        if (a.Numel != b.Numel) return false;
        if (a.Stats is { } sa && b.Stats is { } sb) return FloatsEquivalent(a, sa, b, sb, tol);
        if (a.IStats is { } ia && b.IStats is { } ib) return IntsEquivalent(ia, ib);
        // A tensor with no fingerprint (empty, or of a type the probe does not summarise) matches nothing:
        // a cut on an unknown value would be a guess.
        return false;
    }

    static bool IntsEquivalent(IntStats a, IntStats b) =>
        a.Sum == b.Sum && a.Min == b.Min && a.Max == b.Max && a.Nonzero == b.Nonzero && Close(a.SumSq, b.SumSq, 1e-9);

    static bool FloatsEquivalent(DataflowValue a, FloatStats sa, DataflowValue b, FloatStats sb, double tol)
    {
        if (a.Nonfinite != b.Nonfinite) return false;
        double scale = Math.Max(Math.Max(Rms(sa), Rms(sb)), 1e-30);
        double lim = tol * scale;
        if (!Near(sa.Mean, sb.Mean, lim) || !Near(sa.Std, sb.Std, lim) || !Near(sa.AbsMean, sb.AbsMean, lim))
            return false;
        // Extremes are single elements: allow more, relative to their own size as well.
        if (!Near(sa.Max, sb.Max, 2.5 * lim + tol * Math.Abs(sa.Max)) ||
            !Near(sa.Min, sb.Min, 2.5 * lim + tol * Math.Abs(sa.Min)))
            return false;
        if (a.Deciles is { Length: > 0 } da && b.Deciles is { Length: > 0 } db && da.Length == db.Length)
        {
            for (int i = 0; i < da.Length; i++)
                if (!Near(da[i], db[i], lim)) return false;
        }
        if (a.Spectra is { } pa && b.Spectra is { } pb && SameShape(a, b))
        {
            foreach (var (key, va) in pa)
            {
                if (!pb.TryGetValue(key, out var vb) || va.Length == 0 || vb.Length == 0) continue;
                double top = Math.Max(Math.Abs(va[0]), Math.Abs(vb[0]));
                int n = Math.Min(va.Length, vb.Length);
                for (int i = 0; i < n; i++)
                    if (!Near(va[i], vb[i], 2 * tol * top)) return false;
            }
        }
        return true;
    }

    static bool SameShape(DataflowValue a, DataflowValue b) => a.Shape.AsSpan().SequenceEqual(b.Shape);

    static bool Near(double x, double y, double lim)
    {
        if (double.IsNaN(x) || double.IsNaN(y)) return double.IsNaN(x) && double.IsNaN(y);
        return Math.Abs(x - y) <= lim;
    }

    static bool Close(double x, double y, double rel) => Math.Abs(x - y) <= rel * Math.Max(Math.Abs(x), Math.Abs(y));
}
