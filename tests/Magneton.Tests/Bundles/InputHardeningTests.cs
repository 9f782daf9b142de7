using System.Diagnostics;
using System.Text.Json.Nodes;
using Magneton.Core.Bundles;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Bundles;

/// <summary>
/// Input that parses but must not be read: a gzip bomb, a FIFO or device in place of a file, a dataflow with a cycle.
/// Each is refused with one line naming the file, quickly, and never hangs.
/// </summary>
public sealed class InputHardeningTests
{
    private const string Sample = "convstage-layernorm/A-convstage-permute-layernorm";

    private static BundleException Refused(string directory, string file, string field, string problemPart)
    {
        var ex = Assert.Throws<BundleException>(() => BundleReader.Read(directory));
        Assert.Equal(file, ex.File);
        Assert.Equal(field, ex.Field);
        Assert.Contains(problemPart, ex.Problem);
        Assert.DoesNotContain('\n', ex.Message);
        return ex;
    }

    [Fact]
    public void A_gzip_bomb_is_refused_by_the_compression_ratio_at_the_default_limits()
    {
        using var temp = new TempBundle(Sample);
        HostileInput.WriteGzipBomb(temp.File(BundleFiles.Kineto), 11L << 30); // 11 GiB of spaces
        Assert.True(new FileInfo(temp.File(BundleFiles.Kineto)).Length < 40 << 20);
        var sw = Stopwatch.StartNew();
        var ex = Refused(temp.Path, BundleFiles.Kineto, "gzip", "--max-compression-ratio");
        Assert.Contains(InputLimits.MaxCompressionRatioVariable, ex.Problem);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"took {sw.Elapsed}"); // ~0.3 s idle: 64 MiB decoded
    }

    [Fact]
    public void A_gzip_bomb_within_the_ratio_is_refused_by_the_decoded_size()
    {
        using var temp = new TempBundle(Sample);
        HostileInput.WriteGzipBomb(temp.File(BundleFiles.Kineto), 11L << 30);
        using var scope = InputLimits.Use(InputLimits.Default with { MaxCompressionRatio = 1e7, MaxTraceBytes = 200L << 20 });
        var ex = Refused(temp.Path, BundleFiles.Kineto, "size", "decodes to more than 200.0 MiB");
        Assert.Contains("--max-trace-bytes", ex.Problem);
    }

    [Fact]
    public async Task The_cli_refuses_a_bomb_with_one_line_and_exit_2_and_its_options_set_the_limits()
    {
        using var temp = new TempBundle(Sample);
        HostileInput.WriteGzipBomb(temp.File(BundleFiles.Kineto), 11L << 30);
        var intact = SampleBundles.Dir("convstage-layernorm/B-convstage-channels-first-layernorm");
        var r = await CliRunner.Run("compare", temp.Path, intact, "--max-compression-ratio", "10000000", "--max-trace-bytes", "100000000");
        CliRunner.AssertOneLineError(r, Path.Combine(temp.Path, BundleFiles.Kineto) + ": size: decodes to more than 95.4 MiB");

        var bomb = Path.Combine(temp.Path, "trace.json.gz");
        File.Move(temp.File(BundleFiles.Kineto), bomb);
        r = await CliRunner.Run("inspect", bomb);
        CliRunner.AssertOneLineError(r, bomb + ": gzip: expands more than 100x");

        r = await CliRunner.Run("inspect", SampleBundles.Dir(Sample), "--max-trace-events", "1000");
        CliRunner.AssertOneLineError(r, "traceEvents: has more than 1,000 events, the limit; raise it with --max-trace-events");
        r = await CliRunner.Run("compare", SampleBundles.Dir(Sample), intact, "--max-trace-events", "1000");
        CliRunner.AssertOneLineError(r, "kineto.json.gz: traceEvents: has more than 1,000 events");
        r = await CliRunner.Run("compare", SampleBundles.Dir(Sample), intact, "--max-trace-events", "0");
        CliRunner.AssertOneLineError(r, "--max-trace-events needs a positive integer");
    }

    [Fact]
    public async Task A_silo_reads_bundles_within_its_commands_limits()
    {
        // `magneton silo --max-trace-events`: the silo's run cache (named and uploaded bundles) reads within them.
        var limits = InputLimits.Default with { MaxTraceEvents = 1000 };
        using (InputLimits.Use(limits))
        {
            using var host = Magneton.Silo.SiloHost.Build(new Magneton.Silo.SiloHostOptions
            {
                SiloPort = 1, GatewayPort = 2, Kubernetes = false, MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Error,
            });
            var runs = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
                .GetRequiredService<Magneton.Grains.RunCache>(host.Services);
            Assert.Equal(limits, runs.Limits);
        }
        var r = await CliRunner.Run("silo", "--max-trace-events", "0");
        CliRunner.AssertOneLineError(r, "--max-trace-events needs a positive integer");
    }

    [Fact]
    public void The_environment_sets_the_limits_and_a_bad_value_is_one_line()
    {
        var limits = InputLimits.FromVariables(v => v switch
        {
            InputLimits.MaxTraceBytesVariable => "1000",
            InputLimits.MaxCompressionRatioVariable => "7.5",
            _ => null,
        });
        Assert.Equal(new InputLimits(1000, 7.5, InputLimits.Default.MaxTraceEvents), limits);
        Assert.Equal(new InputLimits(8L << 30, 100, 25_000_000), InputLimits.FromVariables(_ => null));
        var ex = Assert.Throws<BundleException>(() => InputLimits.FromVariables(v => v == InputLimits.MaxTraceEventsVariable ? "many" : null));
        Assert.Equal("MAGNETON_MAX_TRACE_EVENTS: environment: needs a positive integer, got 'many'", ex.Message);
    }

    [Theory]
    [InlineData(BundleFiles.Power)]
    [InlineData(BundleFiles.Kineto)]
    [InlineData(BundleFiles.Dataflow)]
    [InlineData(BundleFiles.Measure)]
    [InlineData(BundleFiles.BaselinePower)]
    [InlineData(BundleFiles.Context)]
    public async Task A_fifo_in_place_of_a_bundle_file_is_refused_without_hanging(string file)
    {
        using var temp = new TempBundle(Sample);
        HostileInput.MakeFifo(temp.File(file));
        var read = Task.Run(() => BundleReader.Read(temp.Path));
        var ex = await Assert.ThrowsAsync<BundleException>(() => read.WaitAsync(TimeSpan.FromSeconds(120)));
        Assert.Equal($"{file}: file: is not a regular file (a FIFO); only regular files are read", ex.Message);
    }

    [Fact]
    public async Task A_fifo_or_device_as_a_plain_trace_is_refused_by_the_cli()
    {
        using var temp = new TempBundle();
        var fifo = temp.File("rank0.json");
        HostileInput.MakeFifo(fifo);
        var r = await CliRunner.Run("inspect", fifo).WaitAsync(TimeSpan.FromSeconds(120));
        CliRunner.AssertOneLineError(r, fifo + ": file: is not a regular file (a FIFO)");

        using var bundle = new TempBundle(Sample);
        HostileInput.LinkToDevZero(bundle.File(BundleFiles.Kineto));
        r = await CliRunner.Run("compare", bundle.Path, SampleBundles.Dir(Sample)).WaitAsync(TimeSpan.FromSeconds(120));
        CliRunner.AssertOneLineError(r, "kineto.json.gz: file: is not a regular file (a character device)");
    }

    [Fact]
    public void A_dataflow_edge_that_makes_a_cycle_is_refused_naming_the_operators()
    {
        using var temp = new TempBundle(Sample);
        int consumer = -1, producer = -1;
        temp.EditJson(BundleFiles.Dataflow, root =>
        {
            var nodes = root["nodes"]!.AsArray();
            var values = root["values"]!.AsObject();
            // A node reading a value of an earlier node; that earlier node now also reads the later node's output.
            for (int i = nodes.Count - 1; i >= 0 && producer < 0; i--)
                foreach (var v in nodes[i]!["in"]!.AsArray())
                    if (values[v!.ToString()]!["producer"] is JsonValue p && nodes[i]!["out"]!.AsArray().Count > 0)
                    {
                        (consumer, producer) = (nodes[i]!["id"]!.GetValue<int>(), p.GetValue<int>());
                        var back = nodes[i]!["out"]!.AsArray()[0]!.GetValue<int>();
                        nodes.Single(n => n!["id"]!.GetValue<int>() == producer)!["in"]!.AsArray().Add(back);
                        break;
                    }
        });
        Assert.True(producer >= 0);
        var ex = Assert.Throws<BundleException>(() => BundleReader.Read(temp.Path));
        Assert.Equal(BundleFiles.Dataflow, ex.File);
        Assert.Matches(@"^nodes\[\d+\]\.in$", ex.Field);
        Assert.Contains($"{consumer} -> {producer}, each reading a value of the one before", ex.Problem);
        Assert.Contains($"node ids {producer} -> ", ex.Problem);
        Assert.Contains("cycle", ex.Problem);
    }

    [Fact]
    public void The_graph_check_takes_a_million_operators_in_linear_time_without_recursion()
    {
        const int n = 1_000_000;
        var empty = Array.Empty<int>();
        var nodes = new DataflowNode[n];
        var values = new Dictionary<int, DataflowValue>(n);
        var shape = new long[] { 1 };
        for (int i = 0; i < n; i++)
        {
            nodes[i] = new DataflowNode(i, "aten.add.Tensor", "m", [], i == 0 ? empty : [i - 1], [i], false, false, empty, "", null);
            values[i] = new DataflowValue(i, shape, "float32", shape, 1, "tensor", i, null, null, 0, null, null);
        }
        var chain = new Dataflow(BundleFiles.Format, null, "s", null, new Dictionary<string, string>(), nodes, values);
        var sw = Stopwatch.StartNew();
        OperatorGraphCheck.RequireAcyclic(chain);
        var acyclic = sw.Elapsed;

        nodes[0] = nodes[0] with { In = [n - 1] }; // the first operator reads the last one's output
        sw.Restart();
        var ex = Assert.Throws<BundleException>(() => OperatorGraphCheck.RequireAcyclic(chain));
        Assert.Equal("nodes[0].in", ex.Field);
        Assert.StartsWith("the operator graph has a cycle (node ids 0 -> 1 -> 2 -> 3 -> 4 -> 5 -> ... (999992 more) -> 999998 -> 999999 -> 0, ", ex.Problem);
        Assert.True(acyclic + sw.Elapsed < TimeSpan.FromSeconds(60), $"acyclic {acyclic}, cyclic {sw.Elapsed}"); // ~1 s idle
    }
}
