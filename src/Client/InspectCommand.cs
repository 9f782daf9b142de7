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
    public const string Help = """
        magneton inspect <trace|trace directory|bundle> [--json] [--rank <R>] [--top <N>]

        Summarises a PyTorch profiler trace (*.json or *.json.gz, as torch.profiler writes it), a directory of
        per-rank traces, or a capture bundle (its kineto.json.gz, plus the operator count of dataflow.json):
        ranks, ProfilerStep#N steps with wall time, GPU time and GPU busy time, the operators and kernels that take
        the most GPU time, launches and streams.

          --json        print the summary as JSON (schema magneton.inspect/1) instead of text
          --rank <R>    only rank R of a multi-rank input
          --top <N>     how many operators and kernels to list (default 15)
          -h, --help    show this help

        GPU time is the summed duration of kernels, copies and fills; GPU busy time is the union of their
        intervals on each device. An operator's GPU time includes its children's (self: only what it launched itself).

        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct = default)
    {
        string? path = null;
        bool json = false;
        int? rank = null;
        int top = 15;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string name = arg;
            string? inline = null;
            int eq = arg.IndexOf('=');
            if (arg.StartsWith("--", StringComparison.Ordinal) && eq > 2) { name = arg[..eq]; inline = arg[(eq + 1)..]; }
            string Value(ref int index)
            {
                if (inline is not null) return inline;
                if (index + 1 >= args.Length) throw new UsageException($"option {name} needs a value");
                return args[++index];
            }
            switch (name)
            {
                case "-h" or "--help":
                    await stdout.WriteAsync(Help).ConfigureAwait(false);
                    return Program.Ok;
                case "--json":
                    if (inline is not null) throw new UsageException("option --json takes no value (the JSON goes to stdout)");
                    json = true;
                    break;
                case "--rank":
                    rank = CompareArguments.ParseIndex(name, Value(ref i));
                    break;
                case "--top":
                    top = CompareArguments.ParseIndex(name, Value(ref i));
                    if (top == 0) throw new UsageException("--top: must be at least 1");
                    break;
                default:
                    if (arg.StartsWith('-') && arg != "-") throw new UsageException($"unknown option '{name}' for inspect (see magneton inspect --help)");
                    if (path is not null) throw new UsageException($"unexpected argument '{arg}': inspect takes one trace or bundle");
                    path = arg;
                    break;
            }
        }
        if (path is null) throw new UsageException("inspect needs a trace or bundle: magneton inspect <trace.json.gz|bundle>");
        if (!File.Exists(path) && !Directory.Exists(path)) throw new UsageException($"{path}: not found (no such file or directory)");

        var inspection = await Task.Run(() => TraceInspector.Inspect(path, rank, top, ct), ct).ConfigureAwait(false);
        await stdout.WriteAsync(json
            ? JsonSerializer.Serialize(inspection, ReportJson.Options) + "\n"
            : TraceInspector.Render(inspection)).ConfigureAwait(false);
        return Program.Ok;
    }
}
