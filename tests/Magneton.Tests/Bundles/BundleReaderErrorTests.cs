using System.Text.Json.Nodes;
using Magneton.Core.Bundles;
using Xunit;

namespace Magneton.Tests.Bundles;

/// <summary>Broken copies of a real bundle: each must fail with one BundleException line naming the file and the field.</summary>
public sealed class BundleReaderErrorTests
{
    private const string Sample = "convstage-layernorm/A-convstage-permute-layernorm";

    private static BundleException Fails(string directory, string file, string fieldPart)
    {
        var ex = Assert.Throws<BundleException>(() => BundleReader.Read(directory));
        Assert.Equal(file, ex.File);
        Assert.Contains(fieldPart, ex.Field);
        Assert.StartsWith($"{file}: {ex.Field}: ", ex.Message);
        Assert.False(string.IsNullOrWhiteSpace(ex.Problem));
        Assert.DoesNotContain('\n', ex.Message);
        Assert.DoesNotContain('\r', ex.Message);
        return ex;
    }

    private static BundleException Broken(Action<TempBundle> damage, string file, string fieldPart)
    {
        using var temp = new TempBundle(Sample);
        damage(temp);
        return Fails(temp.Path, file, fieldPart);
    }

    /// <summary>measure.json "device": a CPU capture may have null energies; a GPU capture may not; no other device.</summary>
    [Fact]
    public void Measure_device_cpu_allows_null_energies_and_nothing_else_does()
    {
        using (var cpu = new TempBundle(Sample))
        {
            cpu.EditJson(BundleFiles.Measure, r =>
            {
                r["device"] = "cpu";
                r["baseline"]!["energy_counter_j"] = null;
                r["baseline"]!["iter_energy_counter_j"] = null;
            });
            var m = BundleReader.Read(cpu.Path).Measure;
            Assert.Equal(CaptureDevice.Cpu, m.Device);
            Assert.Equal(0, m.Baseline.IterEnergyCounterJ);
            Assert.True(m.Baseline.IterSeconds > 0);
        }
        using (var old = new TempBundle(Sample))
            Assert.Equal(CaptureDevice.Gpu, BundleReader.Read(old.Path).Measure.Device); // no "device": a GPU capture
        Broken(t => t.EditJson(BundleFiles.Measure, r => r["baseline"]!["iter_energy_counter_j"] = null),
            BundleFiles.Measure, "baseline.iter_energy_counter_j");
        Broken(t => t.EditJson(BundleFiles.Measure, r => r["device"] = "tpu"), BundleFiles.Measure, "device");
    }

    [Fact]
    public void Nonexistent_directory()
    {
        var missing = Path.Combine(Path.GetTempPath(), "magneton-no-such-bundle-" + Guid.NewGuid().ToString("N"));
        var ex = Fails(missing, missing, "directory");
        Assert.Contains("does not exist", ex.Problem);
    }

    [Fact]
    public void Empty_directory()
    {
        using var temp = new TempBundle();
        Assert.Contains("empty", Fails(temp.Path, temp.Path, "directory").Problem);
    }

    [Fact]
    public void A_file_instead_of_a_directory()
    {
        using var temp = new TempBundle(Sample);
        var file = temp.File(BundleFiles.Measure);
        Assert.Contains("not a bundle directory", Fails(file, file, "directory").Problem);
    }

    [Theory]
    [InlineData(BundleFiles.Dataflow)]
    [InlineData(BundleFiles.Kineto)]
    [InlineData(BundleFiles.Power)]
    [InlineData(BundleFiles.Measure)]
    public void Missing_required_file(string file)
    {
        var ex = Broken(t => File.Delete(t.File(file)), file, "file");
        Assert.Contains("missing", ex.Problem);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(100)]
    public void Truncated_gzip(int fraction)
    {
        // Half the file cuts the deflate data; 99% leaves nearly all of it; both must be caught, not half-read.
        var ex = Broken(t =>
        {
            var bytes = File.ReadAllBytes(t.File(BundleFiles.Kineto));
            File.WriteAllBytes(t.File(BundleFiles.Kineto), bytes[..(bytes.Length - bytes.Length / fraction)]);
        }, BundleFiles.Kineto, "gzip");
        Assert.Contains("truncated", ex.Problem);
    }

    [Fact]
    public void Gzip_missing_only_its_trailer()
    {
        var ex = Broken(t =>
        {
            var bytes = File.ReadAllBytes(t.File(BundleFiles.Kineto));
            File.WriteAllBytes(t.File(BundleFiles.Kineto), bytes[..^4]);
        }, BundleFiles.Kineto, "gzip");
        Assert.Contains("truncated", ex.Problem);
    }

    [Fact]
    public void Not_gzip_at_all()
    {
        var ex = Broken(t => File.WriteAllText(t.File(BundleFiles.Kineto), "{\"traceEvents\": []}"), BundleFiles.Kineto, "gzip");
        Assert.Contains("corrupt", ex.Problem);
    }

    [Fact]
    public void Trace_json_cut_inside_an_event()
    {
        var ex = Broken(t =>
        {
            var json = t.ReadTrace();
            t.WriteTrace(json[..(json.Length / 2)]);
        }, BundleFiles.Kineto, "traceEvents[");
        Assert.Contains("malformed JSON", ex.Problem);
    }

    [Fact]
    public void Trace_without_events_array()
    {
        Broken(t => t.WriteTrace("{\"schemaVersion\": 1, \"traceEvents\": {}}"), BundleFiles.Kineto, "traceEvents");
        Broken(t => t.WriteTrace("[]"), BundleFiles.Kineto, "$");
        Broken(t => t.WriteTrace("{\"schemaVersion\": 1}"), BundleFiles.Kineto, "traceEvents");
    }

    [Fact]
    public void Trace_with_a_garbled_range_name()
    {
        var ex = Broken(t => t.WriteTrace(t.ReadTrace().Replace("\"mg#0#3#", "\"mg#zero#3#")), BundleFiles.Kineto, ".name");
        Assert.Contains("mg#zero#3#", ex.Problem);
        Assert.Matches(@"^traceEvents\[\d+\]\.name$", ex.Field);
    }

    [Fact]
    public void Trace_range_with_a_string_duration()
    {
        Broken(t =>
        {
            var json = t.ReadTrace();
            int at = json.IndexOf("\"user_annotation\", \"name\": \"mg#0#3#", StringComparison.Ordinal);
            Assert.True(at > 0);
            int dur = json.IndexOf("\"dur\": ", at, StringComparison.Ordinal) + 7;
            t.WriteTrace(json[..dur] + "\"12\"" + json[json.IndexOf(',', dur)..]);
        }, BundleFiles.Kineto, ".dur");
    }

    [Fact]
    public void Trace_with_a_token_larger_than_the_limit()
    {
        // 65 MiB of one letter compresses 1000-fold: past the compression-ratio limit, which would refuse it first.
        using var scope = InputLimits.Use(InputLimits.Default with { MaxCompressionRatio = 1e6 });
        var ex = Broken(t => t.WriteTrace("{\"traceEvents\": [{\"name\": \"" + new string('a', 65 * 1024 * 1024) + "\"}]}"),
            BundleFiles.Kineto, "traceEvents");
        Assert.Contains("larger than", ex.Problem);
    }

    [Fact]
    public void Dataflow_cut_in_half()
    {
        var ex = Broken(t =>
        {
            var text = File.ReadAllText(t.File(BundleFiles.Dataflow));
            File.WriteAllText(t.File(BundleFiles.Dataflow), text[..(text.Length / 2)]);
        }, BundleFiles.Dataflow, "line ");
        Assert.StartsWith("malformed JSON", ex.Problem);
    }

    [Fact]
    public void Unknown_format()
    {
        var ex = Broken(t => t.EditJson(BundleFiles.Dataflow, r => r["format"] = "magneton-capture/9"), BundleFiles.Dataflow, "format");
        Assert.Contains("magneton-capture/9", ex.Problem);
    }

    [Fact]
    public void Node_referencing_a_missing_value()
    {
        var ex = Broken(t => t.EditJson(BundleFiles.Dataflow, r => r["nodes"]![12]!["in"]![0] = 999999),
            BundleFiles.Dataflow, "nodes[12].in[0]");
        Assert.Contains("999999", ex.Problem);
        Broken(t => t.EditJson(BundleFiles.Dataflow, r => r["nodes"]![4]!["out"]!.AsArray().Add(999999)),
            BundleFiles.Dataflow, "nodes[4].out[");
    }

    [Fact]
    public void Value_produced_by_a_missing_node()
    {
        var ex = Broken(t => t.EditJson(BundleFiles.Dataflow, r => r["values"]!["5"]!["producer"] = 999999),
            BundleFiles.Dataflow, "values[\"5\"].producer");
        Assert.Contains("999999", ex.Problem);
    }

    [Fact]
    public void Duplicate_node_id()
    {
        var ex = Broken(t => t.EditJson(BundleFiles.Dataflow, r => r["nodes"]![7]!["id"] = 6), BundleFiles.Dataflow, "nodes[7].id");
        Assert.Contains("duplicate", ex.Problem);
    }

    [Fact]
    public void Missing_field_and_wrong_types()
    {
        Broken(t => t.EditJson(BundleFiles.Dataflow, r => r["nodes"]![3]!.AsObject().Remove("op")), BundleFiles.Dataflow, "nodes[3].op");
        Broken(t => t.EditJson(BundleFiles.Dataflow, r => r["nodes"]![2]!["in"] = "x"), BundleFiles.Dataflow, "nodes[2].in");
        Broken(t => t.EditJson(BundleFiles.Dataflow, r => r["values"]!["9"]!["shape"]![1] = 2.5),
            BundleFiles.Dataflow, "values[\"9\"].shape[1]");
        Broken(t => t.EditJson(BundleFiles.Dataflow, r => r["values"]!["9"]!["stats"]!["mean"] = "big"),
            BundleFiles.Dataflow, "values[\"9\"].stats.mean");
        Broken(t => t.EditJson(BundleFiles.Dataflow, r => r["values"]!.AsObject().Add("x7", new JsonObject())),
            BundleFiles.Dataflow, "values[\"x7\"]");
        Broken(t => t.EditJson(BundleFiles.Measure, r => r.AsObject().Remove("energy_pass")), BundleFiles.Measure, "energy_pass");
        Broken(t => t.EditJson(BundleFiles.Measure, r => r["baseline"]!["window_unix_ns"] = new JsonArray(1)),
            BundleFiles.Measure, "baseline.window_unix_ns");
        Broken(t => t.EditJson(BundleFiles.Context, r => r["source"] = new JsonObject { ["f.py:1:g"] = new JsonObject { ["lines"] = new JsonArray(new JsonArray("one", "x")) } }),
            BundleFiles.Context, "source[\"f.py:1:g\"].lines[0][0]");
    }

    [Fact]
    public void Null_statistics_are_nan()
    {
        using var temp = new TempBundle(Sample);
        temp.EditJson(BundleFiles.Dataflow, r => r["values"]!["9"]!["stats"]!["std"] = null);
        var b = BundleReader.Read(temp.Path);
        Assert.True(double.IsNaN(b.Dataflow.Values[9].Stats!.Std));
        Assert.False(double.IsNaN(b.Dataflow.Values[9].Stats!.Mean));
    }

    [Fact]
    public void Replay_item_inconsistent_with_the_graph()
    {
        var ex = Broken(t => t.EditJson(BundleFiles.Replay, r => r["items"]![0]!["node"] = 999999), BundleFiles.Replay, "items[0].node");
        Assert.Contains("999999", ex.Problem);
        Broken(t => t.EditJson(BundleFiles.Replay, r => r["items"]![0]!["id"] = 12345), BundleFiles.Replay, "items[0].id");
        Broken(t => t.EditJson(BundleFiles.Replay, r => r["items"]![r["items"]!.AsArray().Count - 1]!["module"] = "no.such.module"), BundleFiles.Replay, "module");
        Broken(t => t.EditJson(BundleFiles.Replay, r => r["items"]![1]!["window_unix_ns"] = new JsonArray(5, 1)),
            BundleFiles.Replay, "items[1].window_unix_ns");
    }

    [Fact]
    public void Replay_item_that_failed_has_only_its_error()
    {
        using var temp = new TempBundle(Sample);
        temp.EditJson(BundleFiles.Replay, r => r["items"]![0] = new JsonObject
        {
            ["kind"] = "op", ["id"] = r["items"]![0]!["id"]!.GetValue<int>(), ["op"] = r["items"]![0]!["op"]!.GetValue<string>(),
            ["module"] = r["items"]![0]!["module"]!.GetValue<string>(), ["node"] = r["items"]![0]!["node"]!.GetValue<int>(),
            ["error"] = "RuntimeError('CUDA graph capture failed')",
        });
        var item = BundleReader.Read(temp.Path).Replay!.Items[0];
        Assert.Equal("RuntimeError('CUDA graph capture failed')", item.Error);
        Assert.Null(item.PowerW);
        Assert.True(double.IsNaN(item.CallUs));
    }

    [Fact]
    public void Garbled_csv_cell()
    {
        var ex = Broken(t => ReplaceLine(t.File(BundleFiles.Power), 37, l => l[..l.LastIndexOf(',')] + ",12x"),
            BundleFiles.Power, "row 37 energy_mj");
        Assert.Contains("12x", ex.Problem);
    }

    [Fact]
    public void Csv_with_wrong_header_columns_or_time_order()
    {
        Broken(t => ReplaceLine(t.File(BundleFiles.Power), 0, _ => "time,power"), BundleFiles.Power, "header");
        Broken(t => ReplaceLine(t.File(BundleFiles.BaselinePower), 10, l => l + ",7"), BundleFiles.BaselinePower, "row 10");
        Broken(t => ReplaceLine(t.File(BundleFiles.ReplayCounter), 3, l => l[..l.LastIndexOf(',')]), BundleFiles.ReplayCounter, "row 3");
        Broken(t => ReplaceLine(t.File(BundleFiles.Power), 20, l => "1" + l[l.IndexOf(',')..]), BundleFiles.Power, "row 20 t_unix_ns");
        Broken(t => ReplaceLine(t.File(BundleFiles.Power), 5, _ => ""), BundleFiles.Power, "row 5");
        Broken(t => ReplaceLine(t.File(BundleFiles.Power), 6, l =>
        {
            var cells = l.Split(',');
            cells[1] = "-5";
            return string.Join(',', cells);
        }), BundleFiles.Power, "row 6 power_instant_mw");
    }

    [Fact]
    public void Oversized_json_file_is_refused_before_reading()
    {
        using var temp = new TempBundle(Sample);
        // A sparse file: three gigabytes on paper, nothing on disk.
        using (var f = new FileStream(temp.File(BundleFiles.Dataflow), FileMode.Create)) f.SetLength(3L << 30);
        var ex = Fails(temp.Path, BundleFiles.Dataflow, "file");
        Assert.Contains("3.0 GiB", ex.Problem);
    }

    [Fact]
    public void Unreadable_files_of_the_wrong_kind()
    {
        Broken(t => { File.Delete(t.File(BundleFiles.Measure)); Directory.CreateDirectory(t.File(BundleFiles.Measure)); },
            BundleFiles.Measure, "file");
        Broken(t => File.WriteAllText(t.File(BundleFiles.Context), ""), BundleFiles.Context, "file");
    }

    private static void ReplaceLine(string path, int row, Func<string, string> edit)
    {
        var lines = File.ReadAllLines(path);
        lines[row] = edit(lines[row]);
        File.WriteAllText(path, string.Join('\n', lines) + "\n");
    }
}
