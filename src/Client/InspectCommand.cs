using System.CommandLine;
using System.Text.Json;
using Magneton.Core.Reporting;
using Magneton.Core.Traces;

namespace Magneton.Client;

/// <summary>
/// <c>magneton inspect &lt;bundle|trace&gt; [--json] [--rank R] [--top N]</c>: what a PyTorch profiler trace (or a
/// directory of per-rank traces, or a capture bundle's kineto.json.gz) holds: ranks, steps with their GPU time,
/// the operators and kernels that take the most GPU time, and how busy the GPU was.
/// </summary>
public static class InspectCommand
{
    internal static Command Definition(TextWriter stdout, TextWriter stderr)
    {
        var path = new Argument<string>("input")
        {
            HelpName = "trace|trace directory|bundle",
            Description = "a PyTorch profiler trace (*.json or *.json.gz, as torch.profiler writes it), a directory of per-rank "
                + "traces, or a capture bundle (its kineto.json.gz, plus the operator count of dataflow.json)",
        };
        var json = CliOptions.JsonFlag("print the summary as JSON (schema magneton.inspect/1) instead of text");
        var rank = CliOptions.Value<int?>("--rank", "R", "only rank R of a multi-rank input", v => CliOptions.Index("--rank")(v));
        var top = CliOptions.Value("--top", "N", "how many operators and kernels to list", v =>
            CliOptions.Index("--top")(v) is > 0 and var n ? n : throw new UsageException("--top: must be 1 or more"));
        top.DefaultValueFactory = _ => 15;
        var command = new Command("inspect",
            "Summarises a profiler trace or a bundle: ranks, ProfilerStep#N steps with wall time, GPU time and GPU busy time, the "
            + "operators and kernels that take the most GPU time, launches and streams. GPU time is the summed duration of kernels, "
            + "copies and fills; GPU busy time is the union of their intervals on each device. An operator's GPU time includes its "
            + "children's (self: only what it launched itself).")
        {
            path, json, rank, top,
        };
        var limits = new InputLimitOptionSet();
        limits.AddTo(command);
        command.SetAction(limits.Scoped((pr, ct) => RunAsync(pr.GetValue(path)!, pr.GetValue(json), pr.GetValue(rank), pr.GetValue(top), stdout, ct)));
        return command;
    }

    public static async Task<int> RunAsync(string path, bool json, int? rank, int top, TextWriter stdout, CancellationToken ct = default)
    {
        if (!File.Exists(path) && !Directory.Exists(path)) throw new UsageException($"{path}: not found (no such file or directory)");

        var inspection = await Task.Run(() => TraceInspector.Inspect(path, rank, top, ct), ct).ConfigureAwait(false);
        await stdout.WriteAsync(json
            ? JsonSerializer.Serialize(inspection, ReportJson.Options) + "\n"
            : TraceInspector.Render(inspection)).ConfigureAwait(false);
        return Program.Ok;
    }
}
