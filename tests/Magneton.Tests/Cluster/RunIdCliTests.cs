using System.Text.Json;
using System.Text.RegularExpressions;
using Magneton.Client;
using Magneton.Tests.Grains;
using Magneton.Tests.Infrastructure;
using Xunit;

namespace Magneton.Tests.Cluster;

/// <summary>Run ids as the command line types them: printed run:&lt;id&gt;, taken with or without the id's "run-".</summary>
[Collection(SiloProcessCollection.Name)]
public sealed class RunIdCliTests
{
    [Fact]
    public async Task Runs_prints_ids_as_typed_and_compare_takes_them_with_or_without_the_prefix()
    {
        var work = Directory.CreateTempSubdirectory("magneton-run-ids-");
        try
        {
            await using var silo = await MagnetonProcess.StartOnFreePortsAsync((_, _) => ["--storage-dir", Path.Combine(work.FullName, "store")]);
            string cluster = $"127.0.0.1:{silo.GatewayEndpoint.Port}";
            var uploaded = await CliRunner.Run("compare", "--cluster", cluster, TestRepo.GeluA, TestRepo.GeluB, "--json", "-", "--quiet");
            Assert.True(uploaded.Code == 0, $"exit {uploaded.Code}: {uploaded.Err}\nsilo:\n{silo.StderrTail(30)}");

            var listing = await CliRunner.Run("runs", "--cluster", cluster);
            Assert.Equal(0, listing.Code);
            var typed = Regex.Matches(listing.Out, @"^(run:[0-9a-f]{16}) +(\S+)", RegexOptions.Multiline)
                .ToDictionary(m => m.Groups[2].Value, m => m.Groups[1].Value);
            Assert.Equal(["hf-gpt2-gelu_new", "hf-gpt2-gelu_pytorch_tanh"], typed.Keys.Order());

            // JSON keeps the run id itself; the listing is that id as typed.
            var json = await CliRunner.Run("runs", "--cluster", cluster, "--json");
            using var runs = JsonDocument.Parse(json.Out);
            var ids = runs.RootElement.EnumerateArray().ToDictionary(r => r.GetProperty("system").GetString()!, r => r.GetProperty("run_id").GetString()!);
            foreach (var (system, id) in ids)
            {
                Assert.StartsWith("run-", id);
                Assert.Equal("run:" + id["run-".Length..], typed[system]);
            }

            string a = typed["hf-gpt2-gelu_new"], b = typed["hf-gpt2-gelu_pytorch_tanh"];
            var asTyped = await CliRunner.Run("compare", "--cluster", cluster, a, b, "--json", "-", "--quiet");
            var withPrefix = await CliRunner.Run("compare", "--cluster", cluster, "run:" + ids["hf-gpt2-gelu_new"], "run:" + ids["hf-gpt2-gelu_pytorch_tanh"], "--json", "-", "--quiet");
            Assert.True(asTyped.Code == 0, asTyped.Err);
            Assert.True(withPrefix.Code == 0, withPrefix.Err);
            Assert.Equal(Findings(uploaded.Out), Findings(asTyped.Out));
            Assert.Equal(Findings(uploaded.Out), Findings(withPrefix.Out));
            Assert.NotEqual("[]", Findings(asTyped.Out));

            CliRunner.AssertOneLineError(await CliRunner.Run("compare", "--cluster", cluster, "run:", b), "run:: no run id after 'run:'");
            CliRunner.AssertOneLineError(await CliRunner.Run("compare", "--cluster", cluster, a, "run:0000000000000000"), "run:0000000000000000: no such run");
            Assert.Equal(0, await silo.StopAsync());
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [Theory]
    [InlineData("run:4d68a1b2c3d4e5f6", "run-4d68a1b2c3d4e5f6")]
    [InlineData("run:run-4d68a1b2c3d4e5f6", "run-4d68a1b2c3d4e5f6")]
    public void Both_forms_name_one_run(string argument, string id)
    {
        Assert.Equal(id, RunArgument.Id(argument));
        Assert.Equal("run:4d68a1b2c3d4e5f6", RunArgument.Typed(id));
    }

    [Theory]
    [InlineData("run:")]
    [InlineData("run:run-")]
    [InlineData("run:../x")]
    public async Task A_run_argument_without_a_usable_id_is_bad_input(string argument) =>
        CliRunner.AssertOneLineError(await CliRunner.Run("compare", "--cluster", "127.0.0.1:1", argument, "run:4d68a1b2c3d4e5f6"), argument + ": ");

    static string Findings(string reportJson)
    {
        using var doc = JsonDocument.Parse(reportJson);
        return doc.RootElement.GetProperty("findings").GetRawText();
    }
}
