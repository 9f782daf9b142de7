namespace Magneton.Core.Energy;

/// <summary>
/// An energy with its one-sigma uncertainty, J. Sums add sigmas in quadrature: the errors of different
/// operators come from different replays, kernels and priors, and are treated as independent.
/// </summary>
public readonly record struct EnergyEstimate(double ValueJ, double SigmaJ)
{
    public static EnergyEstimate operator +(EnergyEstimate a, EnergyEstimate b) =>
        new(a.ValueJ + b.ValueJ, Math.Sqrt(a.SigmaJ * a.SigmaJ + b.SigmaJ * b.SigmaJ));

    public double Relative => ValueJ > 0 ? SigmaJ / ValueJ : double.PositiveInfinity;

    public static EnergyEstimate Sum(IEnumerable<EnergyEstimate> items)
    {
        double v = 0, var = 0;
        foreach (var e in items) { v += e.ValueJ; var += e.SigmaJ * e.SigmaJ; }
        return new EnergyEstimate(v, Math.Sqrt(var));
    }
}

/// <summary>
/// A ratio of two uncertain energies with its interval at <see cref="Z"/> sigmas, taken on the log scale
/// (relative errors add in quadrature), so the bounds stay positive and are symmetric in A/B vs B/A.
/// </summary>
public readonly record struct RatioInterval(double Ratio, double Low, double High)
{
    /// <summary>Two sigmas: about 95% where the errors are normal.</summary>
    public const double Z = 2.0;

    public static RatioInterval Of(EnergyEstimate numerator, EnergyEstimate denominator, double cap)
    {
        if (denominator.ValueJ <= 0) return new RatioInterval(numerator.ValueJ > 0 ? cap : 0, numerator.ValueJ > 0 ? cap : 0, cap);
        if (numerator.ValueJ <= 0) return new RatioInterval(0, 0, 0);
        return FromLogSigma(numerator.ValueJ / denominator.ValueJ,
            Math.Sqrt(Square(numerator.Relative) + Square(denominator.Relative)), cap);
    }

    public static RatioInterval FromLogSigma(double ratio, double logSigma, double cap)
    {
        double f = Math.Exp(Z * logSigma);
        return new RatioInterval(ratio, ratio / f, Math.Min(cap, ratio * f));
    }

    /// <summary>True when the whole interval lies at or above <paramref name="bound"/>.</summary>
    public bool Clears(double bound) => Low >= bound;

    public bool Contains(double x) => x >= Low && x <= High;

    static double Square(double x) => x * x;
}
