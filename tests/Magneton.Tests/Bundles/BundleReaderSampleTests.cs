using Magneton.Core.Bundles;
using Xunit;

namespace Magneton.Tests.Bundles;

/// <summary>Every real capture reads, with counts and values taken from the files by an independent python3 script.</summary>
public sealed class BundleReaderSampleTests
{
    // bundle, nodes, values, power rows, baseline rows, replay_counter rows, replay items, energy-pass iterations,
    // baseline iterations, module classes, source frames
    public static IEnumerable<object[]> Counts =>
    [
        ["convstage-layernorm/A-convstage-permute-layernorm", 30, 55, 200, 500, 2050, 6, 60, 317, 20, 7],
        ["convstage-layernorm/B-convstage-channels-first-layernorm", 57, 82, 200, 500, 2700, 12, 60, 319, 17, 8],
        ["gpt2-gelu/A-hf-gpt2-gelu_new", 168, 228, 550, 500, 4400, 16, 60, 262, 60, 47],
        ["gpt2-gelu/B-hf-gpt2-gelu_pytorch_tanh", 140, 200, 500, 550, 3950, 13, 60, 254, 60, 47],
        ["gpt2-tf32/A-hf-gpt2-fp32-highest", 168, 228, 250, 550, 4650, 16, 29, 97, 60, 47],
        ["gpt2-tf32/B-hf-gpt2-fp32-tf32", 168, 228, 500, 500, 4250, 16, 60, 240, 60, 47],
        ["llama-generate-null/A-hf-llama-gqa-sdpa-run1", 2383, 2445, 750, 600, 6500, 28, 8, 41, 59, 112],
        ["llama-generate-null/B-hf-llama-gqa-sdpa-run2", 2383, 2445, 950, 550, 6700, 28, 8, 29, 59, 112],
        ["resnet50-layout/A-torchvision-resnet50-nchw", 175, 443, 1150, 500, 3700, 12, 60, 186, 151, 0],
        ["resnet50-layout/B-torchvision-resnet50-channels-last", 175, 443, 850, 500, 3800, 12, 60, 299, 151, 0],
    ];

    [Theory]
    [MemberData(nameof(Counts))]
    public void Sample_bundle_reads_with_expected_counts(string bundle, int nodes, int values, int power, int baseline,
        int counter, int replayItems, int energyPassIterations, int baselineIterations, int modules, int sourceFrames)
    {
        var b = SampleBundles.Get(bundle);
        Assert.Equal(Path.GetFullPath(SampleBundles.Dir(bundle)), b.Path);
        Assert.Equal(BundleFiles.Format, b.Dataflow.Format);
        Assert.Equal(nodes, b.Dataflow.Nodes.Count);
        Assert.Equal(values, b.Dataflow.Values.Count);
        Assert.Equal(power, b.Power.Count);
        Assert.Equal(baseline, b.BaselinePower!.Count);
        Assert.Equal(counter, b.ReplayCounter!.Count);
        Assert.Equal(replayItems, b.Replay!.Items.Count);
        Assert.Equal(energyPassIterations, b.Measure.EnergyPass.Iterations);
        Assert.Equal(baselineIterations, b.Measure.Baseline.Iterations);
        Assert.Equal(modules, b.Context!.Modules.Count);
        Assert.Equal(sourceFrames, b.Context.Source.Count);

        // The trace saw every iteration of the energy pass, and every operator in each of them.
        Assert.Equal(b.Measure.EnergyPass.Iterations, b.Kineto.Iterations);
        Assert.All(b.Kineto.Operators.Values, op => Assert.Equal(b.Kineto.Iterations, op.Occurrences));
        Assert.Equal("NVIDIA H100 80GB HBM3", b.Kineto.DeviceName);
        Assert.Equal(1790857026000000000L, b.Kineto.BaseTimeNanoseconds);
        // Busy time lies inside the synchronised window; the GPU may outrun the ranges' CPU span (PassSeconds).
        Assert.True(b.Kineto.GpuBusySeconds > 0 && b.Kineto.GpuBusySeconds <= (b.Kineto.SyncEndTs!.Value - b.Kineto.SyncBeginTs!.Value) * 1e-6);
        Assert.True(b.Kineto.SyncBeginTs < b.Kineto.SyncEndTs);

        // Every traced node appears in the trace under the same operator name.
        foreach (var node in b.Dataflow.Nodes.Where(n => n.TraceId is not null))
            Assert.Equal(node.Op, b.Kineto.Operators[node.TraceId!.Value].Op);
        Assert.All(b.Power.TimeNs.Zip(b.Power.TimeNs.Skip(1)), p => Assert.True(p.First <= p.Second));
    }

    [Fact]
    public void Gpt2_gelu_A_dataflow_values_are_read_exactly()
    {
        var d = SampleBundles.Get("gpt2-gelu/A-hf-gpt2-gelu_new").Dataflow;
        Assert.Equal("gpt2-gelu", d.Pair);
        Assert.Equal("hf-gpt2-gelu_new", d.System);
        Assert.Equal("A", d.Role);
        Assert.Equal("8", d.Config["batch"]);
        Assert.Equal("gelu_new", d.Config["activation_function"]);

        var embedding = d.Nodes[1];
        Assert.Equal(1, embedding.Id);
        Assert.Equal("aten.embedding.default", embedding.Op);
        Assert.Equal("transformer.wte", embedding.Module);
        Assert.Equal([2, 1], embedding.In);
        Assert.Equal([3], embedding.Out);
        Assert.Equal("T,T", embedding.Args);
        Assert.Equal(1, embedding.TraceId);
        Assert.False(embedding.Mutable);
        Assert.False(embedding.View);
        Assert.Equal("transformers/models/gpt2/modeling_gpt2.py:569:forward", embedding.Stack[0]);
        Assert.Equal(5, embedding.Stack.Count);

        // The one node only the semantic pass saw has no trace_id.
        var untraced = Assert.Single(d.Nodes, n => n.TraceId is null);
        Assert.Equal((3, "aten.detach.default"), (untraced.Id, untraced.Op));

        var ids = d.Values[0];
        Assert.Equal([8L, 512], ids.Shape);
        Assert.Equal([512L, 1], ids.Stride);
        Assert.Equal("int64", ids.Dtype);
        Assert.Equal("input", ids.Kind);
        Assert.Null(ids.Producer);
        Assert.Null(ids.Stats);
        Assert.Equal(103663885, ids.IStats!.Sum);
        Assert.Equal(3498595547437.0, ids.IStats.SumSq);

        var hidden = d.Values[3];
        Assert.Equal(1, hidden.Producer);
        Assert.Equal(-1.3752532790612532e-05, hidden.Stats!.Mean);
        Assert.Equal(40.95773123360088, hidden.Stats.L2);
        Assert.Equal(9, hidden.Deciles!.Length);
        Assert.Equal(0, hidden.Nonfinite);
        Assert.Equal(14.533173561096191, hidden.Spectra!["0|12"][0]);
        Assert.Equal(8, hidden.Spectra["01|2"].Length);
        Assert.Null(hidden.IStats);
    }

    [Fact]
    public void Gpt2_gelu_A_measure_csv_replay_and_context_are_read_exactly()
    {
        var b = SampleBundles.Get("gpt2-gelu/A-hf-gpt2-gelu_new");

        var m = b.Measure;
        Assert.Equal(3.007263358778626, m.Baseline.IterEnergyCounterJ);
        Assert.Equal(787.903, m.Baseline.EnergyCounterJ);
        Assert.Equal((1795704618165584409L, 1795704619936596756L), (m.Baseline.WindowStartNs, m.Baseline.WindowEndNs));
        Assert.Equal(0.012065857979591857, m.ProbeOnlyIterSeconds);
        Assert.Equal(2.6938493251800537, m.SemanticPassSeconds);
        Assert.Equal(0.9021926030000031, m.EnergyPass.WallSeconds);
        Assert.Equal(1795704622376167972L, m.EnergyPass.SyncBeginStartNs);
        Assert.Equal(1795704622383882130L, m.EnergyPass.SyncBeginEndNs);
        Assert.Equal(1795704623286080035L, m.EnergyPass.SyncEndStartNs);
        Assert.Equal(1795704623286232521L, m.EnergyPass.SyncEndEndNs);

        // power.csv has 551 lines: the header and 550 samples.
        Assert.Equal(550, b.Power.Count);
        Assert.Equal((1795704622112950841L, 128249L, 315729L, 7668159L),
            (b.Power.TimeNs[0], b.Power.PowerInstantMw[0], b.Power.PowerAverageMw[0], b.Power.EnergyMj[0]));
        Assert.Equal((1795704624108330872L, 8059773L), (b.Power.TimeNs[^1], b.Power.EnergyMj[^1]));
        // replay_counter.csv reads only the counter: -1 marks the fields not read.
        Assert.Equal((1795705038198451035L, -1L, -1L, 4287219L),
            (b.ReplayCounter!.TimeNs[0], b.ReplayCounter.PowerInstantMw[0], b.ReplayCounter.PowerAverageMw[0], b.ReplayCounter.EnergyMj[0]));

        var r = b.Replay!;
        Assert.Equal((1795705038248700394L, 1795705038648703833L), (r.Idle!.WindowStartNs, r.Idle.WindowEndNs));
        Assert.Equal(121.87959520913893, r.Idle.PowerW);
        Assert.Equal(12, r.Items.Count(i => i.Kind == "op"));
        var first = r.Items[0];
        Assert.Equal(("op", "19", "aten.layer_norm.default", "transformer.h.0.ln_1", (int?)20),
            (first.Kind, first.Id, first.Op, first.Module, first.Node));
        Assert.Equal((1795705039341129071L, 1795705039910696899L), (first.WindowStartNs, first.WindowEndNs));
        Assert.Equal((1043L, 52150L, 5), (first.Launches, first.Calls, first.CounterUpdates));
        Assert.Equal(0.569449951171875, first.GpuSeconds);
        Assert.Equal(10.919462150946789, first.CallUs);
        Assert.Equal(462.67720825921634, first.PowerW);
        Assert.Equal(263.5260525733055, first.EnergyJ);
        Assert.Equal(5.053232072354851, first.CallEnergyMj);
        Assert.Equal("graph", first.Mode);
        Assert.Null(first.Error);
        var last = r.Items[^1];
        Assert.Equal(("module", "transformer.h.0", "transformer.h.0", (int?)null), (last.Kind, last.Id, last.Module, last.Node));
        Assert.Equal(276.6571042115942, last.CallEnergyMj);

        var c = b.Context!;
        Assert.Equal("false", c.Flags["torch.backends.cuda.matmul.allow_tf32"]);
        Assert.Equal("highest", c.Flags["torch.get_float32_matmul_precision"]);
        Assert.Equal("transformers.activations.NewGELUActivation", c.Modules["transformer.h.0.mlp.act"]);
        Assert.Equal("gelu_new", c.ModelConfig["activation_function"]);
        Assert.Equal("LABEL_0", c.ModelConfig["id2label.0"]);
        Assert.Equal("1", c.ModelConfig["label2id.LABEL_1"]);
        Assert.Equal("null", c.ModelConfig["architectures"]);
        Assert.Equal("1e-05", c.ModelConfig["layer_norm_epsilon"]);
        Assert.Equal("true", c.ModelConfig["use_cache"]);
        Assert.False(c.ModelConfig.ContainsKey("id2label"));
        Assert.Equal("2.11.0+cu130", c.Versions["torch"]);
        var line = c.Source["transformers/activations.py:66:forward"].Single(l => l.Line == 66);
        Assert.Contains("torch.tanh(math.sqrt(2.0 / math.pi)", line.Text);
    }

    [Fact]
    public void Llama_model_config_flattens_nested_objects_and_resnet_has_none()
    {
        var llama = SampleBundles.Get("llama-generate-null/A-hf-llama-gqa-sdpa-run1").Context!;
        Assert.Equal("10000.0", llama.ModelConfig["rope_parameters.rope_theta"]);
        Assert.Equal("default", llama.ModelConfig["rope_parameters.rope_type"]);
        Assert.Equal("sdpa", llama.ModelConfig["_attn_implementation"]);

        var resnet = SampleBundles.Get("resnet50-layout/A-torchvision-resnet50-nchw").Context!;
        Assert.Empty(resnet.ModelConfig);
        Assert.Empty(resnet.Source);
        Assert.Equal("contiguous_format", SampleBundles.Get("resnet50-layout/A-torchvision-resnet50-nchw").Dataflow.Config["memory_format"]);
    }

    [Fact]
    public void Gpt2_tf32_addmm_kernels_differ_by_flag()
    {
        var a = SampleBundles.Get("gpt2-tf32/A-hf-gpt2-fp32-highest");
        var b = SampleBundles.Get("gpt2-tf32/B-hf-gpt2-fp32-tf32");
        Assert.Equal("false", a.Dataflow.Config["torch.backends.cuda.matmul.allow_tf32"]);
        Assert.Equal("true", b.Dataflow.Config["torch.backends.cuda.matmul.allow_tf32"]);

        var addmmA = a.Kineto.Operators.Values.Where(o => o.Op == "aten.addmm.default").ToList();
        var addmmB = b.Kineto.Operators.Values.Where(o => o.Op == "aten.addmm.default").ToList();
        Assert.Equal(16, addmmA.Count);
        Assert.Equal(16, addmmB.Count);
        Assert.All(addmmA, op =>
        {
            var k = Assert.Single(op.Kernels);
            Assert.Contains("cutlass_80_simt_sgemm", k.Name);
            Assert.Equal("kernel", k.Category);
            Assert.Equal(29, k.Count);
        });
        Assert.All(addmmB, op => Assert.Contains(op.Kernels, k => k.Name.Contains("tf32") && k.Category == "kernel"));
        Assert.DoesNotContain(addmmB.SelectMany(o => o.Kernels), k => k.Name.Contains("sgemm"));
        // Same work, cheaper kernel: B's matmuls take less GPU time per iteration.
        Assert.True(addmmB.Sum(o => o.GpuSecondsPerIteration) < addmmA.Sum(o => o.GpuSecondsPerIteration) / 2);
    }

    [Fact]
    public void Resnet50_nchw_convolutions_transpose_layouts_and_channels_last_does_not()
    {
        var a = SampleBundles.Get("resnet50-layout/A-torchvision-resnet50-nchw").Kineto;
        var b = SampleBundles.Get("resnet50-layout/B-torchvision-resnet50-channels-last").Kineto;
        var convA = a.Operators.Values.Where(o => o.Op == "aten.conv2d.default").ToList();
        var convB = b.Operators.Values.Where(o => o.Op == "aten.conv2d.default").ToList();
        Assert.Equal(53, convA.Count);
        Assert.Equal(53, convB.Count);
        Assert.Equal(25, convA.Count(o => o.Kernels.Any(k => k.Name.Contains("nchwToNhwc"))));
        Assert.Equal(0, convB.Count(o => o.Kernels.Any(k => k.Name.Contains("nchwToNhwc"))));
    }

    [Fact]
    public void Optional_files_may_be_absent()
    {
        using var temp = new TempBundle("convstage-layernorm/A-convstage-permute-layernorm");
        foreach (var f in BundleFiles.Optional) File.Delete(temp.File(f));
        var b = BundleReader.Read(temp.Path);
        Assert.Null(b.BaselinePower);
        Assert.Null(b.Replay);
        Assert.Null(b.ReplayCounter);
        Assert.Null(b.Context);
        Assert.Equal(30, b.Dataflow.Nodes.Count);
        Assert.Equal(60, b.Kineto.Iterations);
    }
}
