namespace Magneton.Core.Runs;

/// <summary>
/// A module call whose energy a module replay measured: the replayed call itself (the module's first call, on its
/// recorded inputs) or a call with the same call signature (same operators on the same input signatures, in
/// order: another layer of the same shape). A decode step of a layer whose prefill was replayed is not one.
/// </summary>
public sealed record ReplayedCall(
    string Module,
    string ReplayedModule,
    int[] Operators,
    /// <summary>Replayed energy per call (replayed power x replayed GPU time), J.</summary>
    double ReplayEnergyJ,
    double ReplayEnergySigmaJ,
    /// <summary>Replayed power x the call's in-situ GPU time, J: what the operator model is held to.</summary>
    double InSituEnergyJ);

/// <summary>The check of one replay item against the model built without it (modules) or on its own replay (ops).</summary>
public sealed record ReplayCheck(string Kind, string Id, double ReplayMj, double ModelMj, int CounterUpdates)
{
    public double Error => ReplayMj > 0 ? Math.Abs(ModelMj - ReplayMj) / ReplayMj : double.NaN;
    /// <summary>Fewer counter updates than this inside a replay window make its power a coarse number.</summary>
    public const int MinCounterUpdates = 5;
}
