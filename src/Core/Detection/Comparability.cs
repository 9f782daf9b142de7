using System.Globalization;
using Magneton.Core.Matching;

namespace Magneton.Core.Detection;

/// <summary>
/// Whether two runs compute the same thing, so that their regions may be compared at all. Matching always
/// returns regions (the top level pairs the two graphs as wholes), so without this test two unrelated models
/// would be one "equivalent" region and any energy difference a waste claim. Not comparable when
/// <list type="bullet">
/// <item>fewer than <see cref="MinEquivalentShare"/> of the values either side produces have an equivalent on
/// the other side (both sides under the floor: a fused side has few values, but all of them match), or</item>
/// <item>there is no cut point and the two jobs' results (their last operators' outputs) are not equivalent:
/// nothing inside and nothing at the end says the graphs agree.</item>
/// </list>
/// </summary>
public sealed record Comparability(
    bool Comparable,
    double EquivalentShareA,
    double EquivalentShareB,
    int Splits,
    bool ResultsEquivalent,
    string Reason)
{
    /// <summary>
    /// The share of produced values with an equivalent below which two runs are unrelated. The sample pairs of one
    /// model have 53-100% (convstage B: 53%); two unrelated sample models 0%.
    /// </summary>
    public const double MinEquivalentShare = 0.10;

    public static Comparability Of(MatchSession s, IReadOnlyList<RegionMatch> regions)
    {
        var v = s.Values;
        double shareA = v.ProducedValueCountA == 0 ? 0 : (double)v.EquivalentValueCount / v.ProducedValueCountA;
        double shareB = v.ProducedValueCountB == 0 ? 0 : (double)v.EquivalentValueCountB / v.ProducedValueCountB;
        int cuts = CutPoints(regions);
        int endA = LastWithOutput(s.A), endB = LastWithOutput(s.B);
        bool results = endA >= 0 && endB >= 0 && s.OperatorsEquivalent(endA, endB);
        var ci = CultureInfo.InvariantCulture;
        string values = string.Create(ci,
            $"{v.EquivalentValueCount} of A's {v.ProducedValueCountA} values ({shareA:P0}) and {v.EquivalentValueCountB} of B's {v.ProducedValueCountB} ({shareB:P0}) have an equivalent on the other side");
        string? why = null;
        if (Math.Max(shareA, shareB) < MinEquivalentShare)
            why = string.Create(ci, $"{values}, under the floor of {MinEquivalentShare:P0}");
        else if (cuts == 0 && !results)
            why = $"{values}, but there is no cut point and the two jobs' results are not equivalent";
        return new Comparability(why is null, Math.Round(shareA, 4), Math.Round(shareB, 4), cuts, results,
            why ?? values);
    }

    /// <summary>
    /// Places where matching split the graphs: every split (a dominator cut, a branch exit, an ancestor split, a
    /// dead-end sink) is at equivalent values, so a region count above one means some do agree.
    /// </summary>
    static int CutPoints(IReadOnlyList<RegionMatch> regions) => Math.Max(0, regions.Count - 1);

    static int LastWithOutput(Runs.Run r)
    {
        for (int i = r.Operators.Length - 1; i >= 0; i--)
            if (r.Operators[i].Node.Out.Length > 0) return i;
        return -1;
    }
}
