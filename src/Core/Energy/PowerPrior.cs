namespace Magneton.Core.Energy;

/// <summary>One replayed operator as the prior sees it: what ran, for how long in situ, at what replayed power.</summary>
public readonly record struct PriorPoint(KernelClass Class, string Kernel, string Op, double Seconds, double PowerW);

/// <summary>
/// Power for an operator that was not replayed, calibrated on the same bundle's op replays: a weighted mean of
/// the replayed powers, weighted by closeness in kernel (same kernel, then same class) and in in-situ duration
/// (log scale: a 2 us kernel in a graph replay barely lifts the chip above idle, a 50 us one drives it). Its
/// uncertainty is measured, not assumed: the RMS relative error of the prior predicting each of the bundle's own
/// replays from the others.
/// </summary>
public sealed class PowerPrior
{
    const double LogWidth = 0.7;
    const double SameClass = 0.2, OtherClass = 0.02, OtherOp = 0.5;
    /// <summary>Floor of the prior's relative uncertainty: a handful of replays cannot show a spread below this.</summary>
    const double MinSigma = 0.05;
    /// <summary>Without calibration points the prior's spread is that of the audit's per-class prior (21% mean).</summary>
    const double UncalibratedSigma = 0.3;

    readonly PriorPoint[] points;

    public PowerPrior(IEnumerable<PriorPoint> points)
    {
        this.points = points.Where(p => p.Seconds > 0 && p.PowerW > 0 && double.IsFinite(p.PowerW)).ToArray();
        RelativeSigma = Calibrate();
    }

    public bool IsCalibrated => points.Length > 0;
    public int Points => points.Length;

    /// <summary>One-sigma relative error of a predicted power, measured by leave-one-out on the calibration points.</summary>
    public double RelativeSigma { get; }

    public double Predict(KernelClass cls, string kernel, string op, double seconds) => Predict(cls, kernel, op, seconds, -1);

    double Predict(KernelClass cls, string kernel, string op, double seconds, int skip)
    {
        double sw = 0, swp = 0;
        double lt = Math.Log(Math.Max(seconds, 1e-9));
        for (int i = 0; i < points.Length; i++)
        {
            if (i == skip) continue;
            var p = points[i];
            double d = (lt - Math.Log(p.Seconds)) / LogWidth;
            double w = Math.Exp(-0.5 * d * d)
                       * (p.Kernel == kernel ? 1 : p.Class == cls ? SameClass : OtherClass)
                       * (p.Op == op ? 1 : OtherOp);
            sw += w;
            swp += w * p.PowerW;
        }
        return sw > 0 ? swp / sw : points.Length > (skip >= 0 ? 1 : 0) ? points.Where((_, i) => i != skip).Average(p => p.PowerW) : double.NaN;
    }

    double Calibrate()
    {
        if (points.Length < 3) return UncalibratedSigma;
        double sum = 0;
        int n = 0;
        for (int i = 0; i < points.Length; i++)
        {
            var p = points[i];
            double pred = Predict(p.Class, p.Kernel, p.Op, p.Seconds, i);
            if (!double.IsFinite(pred)) continue;
            double e = (pred - p.PowerW) / p.PowerW;
            sum += e * e;
            n++;
        }
        return n == 0 ? UncalibratedSigma : Math.Max(MinSigma, Math.Sqrt(sum / n));
    }
}
