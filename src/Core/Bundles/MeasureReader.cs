using System.Text.Json;
using static Magneton.Core.Bundles.JsonFields;

namespace Magneton.Core.Bundles;

/// <summary>
/// measure.json: the uninstrumented baseline and the energy pass's timing and sync marks. A CPU capture
/// ("device": "cpu") has no energy counter: its baseline energies may be null (read as 0, never reported as measured).
/// </summary>
internal static class MeasureReader
{
    public static Measure Read(string path) => JsonFile.Parse(path, BundleFiles.Measure, Parse);

    private static Measure Parse(JsonElement root)
    {
        Expect(root, JsonValueKind.Object, "$");
        var device = Device(root);
        return new Measure(
            Section(root, "baseline", b => Baseline(b, device)),
            OptionalDouble(root, "probe_only_iter_s"),
            Section(root, "energy_pass", EnergyPass),
            OptionalDouble(root, "semantic_pass_s"))
        {
            Node = root.TryGetProperty("node", out var node) && node.ValueKind == JsonValueKind.Object ? Section(root, "node", Node) : null,
            Device = device,
            System = root.TryGetProperty("system", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null,
        };
    }

    private static CaptureDevice Device(JsonElement root) => OptionalString(root, "device") switch
    {
        null or "cuda" => CaptureDevice.Gpu,
        "cpu" => CaptureDevice.Cpu,
        var other => throw new JsonFieldException("device", $"expected \"cuda\" or \"cpu\", got \"{other}\""),
    };

    /// <summary>Where the capture ran (written by `magneton capture`; absent in older bundles).</summary>
    private static CaptureNode Node(JsonElement n) => new(
        OptionalString(n, "host"), OptionalString(n, "gpu"), OptionalString(n, "gpu_uuid"),
        OptionalString(n, "driver"), OptionalDouble(n, "power_limit_w"));

    private static T Section<T>(JsonElement root, string name, Func<JsonElement, T> parse)
    {
        var section = Object(root, name);
        try
        {
            return parse(section);
        }
        catch (JsonFieldException ex)
        {
            throw ex.Under(name);
        }
    }

    private static BaselineMeasure Baseline(JsonElement b, CaptureDevice device)
    {
        var (start, end) = Window(b, "window_unix_ns");
        bool cpu = device == CaptureDevice.Cpu;
        return new BaselineMeasure(PositiveIterations(b), Double(b, "wall_s"), Double(b, "iter_s"),
            cpu ? OptionalDouble(b, "energy_counter_j") ?? 0 : Double(b, "energy_counter_j"),
            cpu ? OptionalDouble(b, "iter_energy_counter_j") ?? 0 : Double(b, "iter_energy_counter_j"), start, end);
    }

    private static EnergyPassMeasure EnergyPass(JsonElement e)
    {
        var (beginStart, beginEnd) = Window(e, "sync_begin_unix_ns");
        var (endStart, endEnd) = Window(e, "sync_end_unix_ns");
        if (endStart < beginEnd)
            throw new JsonFieldException("sync_end_unix_ns", $"starts ({endStart}) before sync_begin ends ({beginEnd})");
        return new EnergyPassMeasure(PositiveIterations(e), Double(e, "wall_s"), Double(e, "iter_s"),
            beginStart, beginEnd, endStart, endEnd);
    }

    private static int PositiveIterations(JsonElement section)
    {
        int n = Int32(section, "iterations");
        return n > 0 ? n : throw new JsonFieldException("iterations", $"must be positive, got {n}");
    }
}
