using System.Text.Json.Serialization;

namespace Magneton.Core.Audits;

/// <summary>
/// What node-to-node differences an audit can resolve: NVML power sensors differ by about +-5 % from board to
/// board (the stated accuracy of the energy counter), and the typical nodes spread by their MAD. A node whose energy
/// differs from the median by less than the larger of the two is "within sensor error": not evidence, never an
/// outlier.
/// </summary>
public sealed record AuditResolution(
    [property: JsonPropertyName("sensor_tolerance")] double SensorTolerance,
    [property: JsonPropertyName("typical_spread")] double TypicalSpread,
    [property: JsonPropertyName("resolution")] double Resolution)
{
    /// <summary>The stated per-board accuracy of NVML's energy counter (published measurements: about +-5 %).</summary>
    public const double NvmlSensorTolerance = 0.05;

    /// <summary>From the nodes' median and MAD of iteration energy, and the sensors' stated tolerance.</summary>
    public static AuditResolution Of(double median, double mad, double sensorTolerance = NvmlSensorTolerance)
    {
        double spread = median > 0 ? 1.4826 * mad / median : 0;
        return new AuditResolution(sensorTolerance, spread, Math.Max(sensorTolerance, spread));
    }

    /// <summary>A node's relative difference from the median is below what the sensors can tell apart.</summary>
    public bool Within(double energyJ, double median) => median > 0 && Math.Abs(energyJ / median - 1) < Resolution;
}
