namespace Magneton.Core.Energy;

/// <summary>
/// How far a replay's power transfers to the same work in situ, by kernel duration: measured on the bundle's own
/// op replays as the RMS relative difference between in-situ and replayed GPU time per call (warm-L2 replays
/// run small memory-bound kernels faster; clocks ramp down between launches in a sparse loop). The same spread
/// is taken for power: what runs differently in situ draws power differently.
/// </summary>
public sealed class TimeTransfer
{
    static readonly double[] BucketUpperSeconds = [5e-6, 20e-6, 100e-6, double.PositiveInfinity];
    /// <summary>Per bucket where the bundle has no replay in it: the audit's figures on the H100 samples.</summary>
    static readonly double[] DefaultSigma = [0.18, 0.08, 0.04, 0.02];
    /// <summary>Repeatability of one replay: identical items replayed in two runs differ by 1.1% mean, 2.6% at p95.</summary>
    public const double ReplayRepeatability = 0.015;

    readonly double[] sigma = (double[])DefaultSigma.Clone();

    /// <param name="pairs">(in-situ seconds per call, replayed seconds per call) of replayed items.</param>
    public TimeTransfer(IEnumerable<(double InSitu, double Replay)> pairs)
    {
        var sums = new double[sigma.Length];
        var counts = new int[sigma.Length];
        foreach (var (insitu, replay) in pairs)
        {
            if (!(insitu > 0 && replay > 0)) continue;
            int b = Bucket(insitu);
            double e = insitu / replay - 1;
            sums[b] += e * e;
            counts[b]++;
        }
        for (int b = 0; b < sigma.Length; b++)
            if (counts[b] >= 2) sigma[b] = Math.Max(0.01, Math.Sqrt(sums[b] / counts[b]));
    }

    /// <summary>Relative one-sigma error of replayed power applied to in-situ work of this duration per call.</summary>
    public double RelativeSigma(double secondsPerCall) => sigma[Bucket(secondsPerCall)];

    static int Bucket(double s)
    {
        int b = 0;
        while (s > BucketUpperSeconds[b]) b++;
        return b;
    }
}
