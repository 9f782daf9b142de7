using Magneton.Core.Bundles;
using Xunit;

namespace Magneton.Tests.Bundles;

/// <summary>A file of another capture in a bundle: each parses on its own, and each is refused against the others.</summary>
public sealed class BundleConsistencyTests
{
    private const string GeluA = "gpt2-gelu/A-hf-gpt2-gelu_new";
    private const string GeluB = "gpt2-gelu/B-hf-gpt2-gelu_pytorch_tanh";
    private const string Tf32A = "gpt2-tf32/A-hf-gpt2-fp32-highest";

    private static BundleException Swapped(string into, string from, string file)
    {
        using var temp = new TempBundle(into);
        File.Copy(Path.Combine(SampleBundles.Dir(from), file), temp.File(file), overwrite: true);
        var ex = Assert.Throws<BundleException>(() => BundleReader.Read(temp.Path));
        Assert.DoesNotContain('\n', ex.Message);
        return ex;
    }

    [Fact]
    public void Every_sample_bundle_passes_the_checks()
    {
        foreach (var sample in SampleBundles.All())
            BundleConsistency.Require(BundleReader.Read(SampleBundles.Dir(sample)));
    }

    [Fact]
    public void A_power_csv_of_another_capture_is_refused_naming_the_file_and_the_field()
    {
        var ex = Swapped(GeluA, GeluB, BundleFiles.Power);
        Assert.Equal((BundleFiles.Power, "t_unix_ns"), (ex.File, ex.Field));
        Assert.Contains("the energy pass (measure.json energy_pass.sync_*_unix_ns) is 1795704622376167972..1795704623286232521 ns", ex.Problem);
        Assert.Contains("begin 12.", ex.Problem); // B was captured 12 s after A
    }

    [Fact]
    public void A_baseline_power_csv_of_another_capture_is_refused()
    {
        var ex = Swapped(GeluB, GeluA, BundleFiles.BaselinePower);
        Assert.Equal((BundleFiles.BaselinePower, "t_unix_ns"), (ex.File, ex.Field));
        Assert.Contains("end 12.", ex.Problem);
    }

    [Fact]
    public void A_trace_dataflow_measure_replay_or_context_of_another_capture_is_refused()
    {
        var trace = Swapped(GeluA, Tf32A, BundleFiles.Kineto);
        Assert.Equal((BundleFiles.Kineto, "mg_sync_begin"), (trace.File, trace.Field));
        var dataflow = Swapped(GeluA, GeluB, BundleFiles.Dataflow);
        Assert.Equal((BundleFiles.Measure, "system"), (dataflow.File, dataflow.Field));
        Assert.Contains("dataflow.json's system is \"hf-gpt2-gelu_pytorch_tanh\"", dataflow.Problem);
        Assert.Equal((BundleFiles.Replay, "system"), Fields(Swapped(GeluA, GeluB, BundleFiles.Replay)));
        Assert.Equal((BundleFiles.ReplayCounter, "t_unix_ns"), Fields(Swapped(GeluA, GeluB, BundleFiles.ReplayCounter)));
        Assert.Equal((BundleFiles.Context, "source"), Fields(Swapped(GeluA, GeluB, BundleFiles.Context)));
        Assert.Equal((BundleFiles.Context, "modules"), Fields(Swapped("resnet50-layout/A-torchvision-resnet50-nchw", GeluA, BundleFiles.Context)));
    }

    [Fact]
    public void Context_flags_and_model_config_must_agree_with_the_dataflow_config()
    {
        using (var temp = new TempBundle(Tf32A))
        {
            temp.EditJson(BundleFiles.Context, r => r["flags"]!["torch.backends.cuda.matmul.allow_tf32"] = true);
            var ex = Assert.Throws<BundleException>(() => BundleReader.Read(temp.Path));
            Assert.Equal((BundleFiles.Context, "flags.torch.backends.cuda.matmul.allow_tf32"), Fields(ex));
        }
        using (var temp = new TempBundle(GeluA))
        {
            temp.EditJson(BundleFiles.Context, r => r["model_config"]!["activation_function"] = "gelu_pytorch_tanh");
            var ex = Assert.Throws<BundleException>(() => BundleReader.Read(temp.Path));
            Assert.Equal("context.json: model_config.activation_function: is gelu_pytorch_tanh but dataflow.json config.activation_function is gelu_new (files of different captures?)", ex.Message);
        }
    }

    [Fact]
    public void Iteration_counts_and_operator_ids_must_agree_with_the_trace()
    {
        using (var temp = new TempBundle(GeluA))
        {
            temp.EditJson(BundleFiles.Measure, r => r["energy_pass"]!["iterations"] = 59);
            var ex = Assert.Throws<BundleException>(() => BundleReader.Read(temp.Path));
            Assert.Equal("kineto.json.gz: mg# ranges: cover 60 iterations but measure.json energy_pass.iterations is 59 (files of different captures?)", ex.Message);
        }
        using (var temp = new TempBundle(GeluA))
        {
            temp.EditJson(BundleFiles.Dataflow, r =>
            {
                foreach (var n in r["nodes"]!.AsArray())
                    if (n!["trace_id"]?.GetValue<int>() == 5) n["trace_id"] = 9005;
            });
            var ex = Assert.Throws<BundleException>(() => BundleReader.Read(temp.Path));
            Assert.Equal((BundleFiles.Kineto, "mg#5 ranges"), (ex.File, ex.Field));
            Assert.Contains("which no node of dataflow.json has", ex.Problem);
        }
    }

    private static (string, string) Fields(BundleException e) => (e.File, e.Field);
}
