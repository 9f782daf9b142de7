using Magneton.Core.Audits;
using Xunit;

namespace Magneton.Tests.Analysis;

/// <summary>The audit's resolution: differences below the NVML sensor tolerance (or the typical spread) are not evidence.</summary>
public sealed class AuditResolutionTests
{
    static AuditInput Node(int i, double energyJ) => new(i, $"node{i}", $"run-{i:D16}", "sig", $"node{i}", "H100", "580", 700, energyJ, 0.01);

    [Fact]
    public void Nodes_within_the_sensor_tolerance_of_the_median_are_within_sensor_error_and_others_are_not()
    {
        var (nodes, median, mad, _) = AuditAnalysis.Score([Node(0, 10.0), Node(1, 10.2), Node(2, 9.9), Node(3, 10.45), Node(4, 11.0)]);
        var resolution = AuditResolution.Of(median, mad);
        Assert.Equal(10.2, median, 9);
        Assert.Equal(0.25, mad, 9);
        Assert.Equal(0.05, resolution.SensorTolerance);
        Assert.Equal(1.4826 * 0.25 / 10.2, resolution.TypicalSpread, 9);
        Assert.Equal(0.05, resolution.Resolution); // the typical nodes spread by 3.6 %: the sensors limit
        Assert.Equal([true, true, true, true, false], nodes.Select(n => n.WithinSensorError));
        Assert.DoesNotContain(nodes, n => n.Outlier); // node 4 is 7.8 % above: beyond sensor error, not an outlier
    }

    [Fact]
    public void A_wide_typical_spread_widens_the_resolution_and_an_outlier_is_never_within_it()
    {
        var (nodes, median, mad, _) = AuditAnalysis.Score([Node(0, 10.0), Node(1, 11.0), Node(2, 9.0), Node(3, 10.5), Node(4, 20.0)]);
        var resolution = AuditResolution.Of(median, mad);
        Assert.Equal(1.4826 * 0.5 / 10.5, resolution.Resolution, 9); // 7.1 %: wider than the sensors'
        var outlier = Assert.Single(nodes, n => n.Outlier);
        Assert.Equal(4, outlier.Index);
        Assert.False(outlier.WithinSensorError);
        Assert.Equal([true, true, false, true, false], nodes.Select(n => n.WithinSensorError)); // 10 and 11 are 4.8 % from 10.5, 9 is 14 %
    }
}
