using System.Reflection;
using Magneton.Core.Bundles;

namespace Magneton.Client;

/// <summary>
/// The magneton CLI. <see cref="RunAsync"/> takes the arguments and the two output writers, so tests run the
/// whole tool in-process. Exit codes: 0 ran, 1 internal error, 2 bad input, 3 waste found with --fail-on-waste.
/// </summary>
public static class Program
{
    public const int Ok = 0, InternalError = 1, BadInput = 2, WasteFound = 3;

    /// <summary>Commands that only wait on others (a cluster, an embedded comparison): a signal ends them at once.</summary>
    static readonly HashSet<string> ClientCommands = ["compare", "campaign", "audit", "audits", "campaigns", "runs", "submit", "workers"];

    public static async Task<int> Main(string[] args)
    {
        SiloRuntimeSettings.ApplyToSilo(args);
        var stdout = Console.Out;
        var stderr = Console.Error;
        // Long-running commands (silo, worker, capture) stop gracefully on their own signal handling.
        using var stop = args.Length > 0 && ClientCommands.Contains(args[0]) ? new StopSignals(default, exitAfter: TimeSpan.FromSeconds(1)) : null;
        int rc = await RunAsync(args, stdout, stderr, stop?.Token ?? default).ConfigureAwait(false);
        await stdout.FlushAsync().ConfigureAwait(false);
        await stderr.FlushAsync().ConfigureAwait(false);
        return rc;
    }

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct = default)
    {
        try
        {
            if (args.Length == 0)
                throw new UsageException("no command given: magneton compare <bundleA> <bundleB> (see magneton --help)");
            return await Cli.InvokeAsync(args, stdout, stderr, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await stderr.WriteLineAsync("magneton: interrupted").ConfigureAwait(false);
            return StopSignals.Interrupted;
        }
        catch (Exception e) when (InputError(e) is { } message)
        {
            await stderr.WriteLineAsync("magneton: error: " + message).ConfigureAwait(false);
            return BadInput;
        }
        catch (Exception e)
        {
            await stderr.WriteLineAsync($"magneton: internal error: {e.GetType().Name}: {OneLine(e.Message)}").ConfigureAwait(false);
            if (Environment.GetEnvironmentVariable("MAGNETON_DEBUG") is "1" or "true")
                await stderr.WriteLineAsync(e.ToString()).ConfigureAwait(false);
            return InternalError;
        }
    }

    /// <summary>The one-line message of an exception that means bad input, or null for a bug.</summary>
    static string? InputError(Exception e) => e switch
    {
        UsageException u => u.Message,
        ClusterUnavailableException c => c.Message,
        Magneton.Grains.MagnetonInputException m => OneLine(m.Message),
        Magneton.Grains.MagnetonUnavailableException u => OneLine(u.Message),
        Magneton.Grains.AccessDeniedException d => OneLine(d.Message),
        BundleException b => OneLine(b.Message),
        AggregateException { InnerExceptions.Count: 1 } a => InputError(a.InnerException!),
        _ => null,
    };

    internal static string OneLine(string s) =>
        string.Join(' ', s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    public static string Version
    {
        get
        {
            var v = typeof(Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
            int plus = v.IndexOf('+');
            return plus > 0 ? v[..plus] : v;
        }
    }
}

/// <summary>Bad command line: printed as one line, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);

static class Usage
{
    public const string Text = """
        magneton: differential energy debugging of ML systems. Compares two capture bundles of systems that
        do the same job, matches their equivalent subgraphs by tensor values, and reports where one side
        spends more GPU energy for the same result, and why.

        Usage:
          magneton compare <bundleA> <bundleB> [options]
          magneton campaign --baseline <bundle> <bundle>... [--json <file|->] [--html <file>] [--cluster <h:p>]
                           [--threshold <x>] [--fail-on-waste] [--quiet]
          magneton audit <bundle> <bundle>... [--json <file|->] [--html <file>] [--cluster <h:p>] [--threshold <x>] [--quiet]
          magneton audit --cluster <h:p> --capture --system <name> [--nodes a,b|all] [--gpus all] --workload <name> [-- <args>]
                             capture the job on every selected GPU worker, audit the fresh runs against each other and
                             each node's previous audit, and store the report (magneton audits)
          magneton campaign --cluster <h:p> --capture --baseline NAME=<workload> --version NAME=<workload>...
                             capture each version on one worker GPU, run the campaign, store it (magneton campaigns)
          magneton audits|campaigns --cluster <h:p> [--system <name>] [--json] [--report <id>]   the stored reports
          magneton export <bundle> --out <trace.json|-> [--report <report.json>] [--side a|b]
                             the run as a Chrome trace for ui.perfetto.dev: operators, kernels, power and energy
                             counters, power.csv, and a report's findings (see magneton export --help)
          magneton inspect <trace|bundle> [--json] [--rank <R>] [--top <N>]
                             ranks, steps, operators and kernels by GPU time of a PyTorch profiler trace
                             (*.json, *.json.gz, a directory of per-rank traces) or of a bundle's kineto.json.gz
          magneton runs --cluster <host:port> [--json]
          magneton silo [silo options]          (see magneton silo --help)
          magneton power <samples.csv> [--from <unix ns>] [--to <unix ns>] [--json]
                             the power of a window of a power.csv from its energy-counter updates, as
                             {"power_w", "energy_j", "updates", "update_period_ms"} with --json
          magneton power --sample <seconds> --out <file> [--device <i>] [--interval-ms <ms>] [--energy-only] [--json]
                             record NVML samples of one GPU to a power.csv, then report its whole span
          magneton gpus [--json]                the NVIDIA GPUs NVML sees: name, UUID, driver, limits, power
          magneton bench --operators <N> [--json <file|->]   scale a sample pair to N operators a side and measure
          magneton capture --system <name> --out <dir> [--cluster <h:p>] -- <python command...>
                             run a PyTorch script under the probe and write its bundle (see magneton capture --help)
          magneton worker --cluster <h:p> --workloads <file>|--allow-any-command [--node <name>] [--gpu <n>|all]
                             a GPU worker: registers this node's GPUs and runs the capture jobs its node allows
          magneton submit --cluster <h:p> --system <name> --workload <name> [--node <name>] [--wait] [-- <args>]
          magneton submit --cluster <h:p> --system <name> [--node <name>] [--wait] -- <python command...>
                             queue a capture for the GPU workers; --wait prints run:<id> when it is done
          magneton workers --cluster <h:p> [--json]   the cluster's GPU workers and capture jobs
          magneton help [<command>] | --help | <command> --help   the overview, or a command's own options
          magneton --version

        TLS (silo, worker and every command with --cluster): --tls-cert <pem> --tls-key <pem> --tls-ca <pem>
          (or MAGNETON_TLS_CERT, MAGNETON_TLS_KEY, MAGNETON_TLS_CA): mutual TLS with the cluster's CA; the
          certificate's OU (submitter, worker, reader, silo) says what it may do.

        compare options:
          --threshold <x>    minimum relative energy excess of a finding, a number in (0, 10] (default 0.10)
          --json <file|->    also write the report as JSON (schema magneton.report/1) to a file; '-' writes it
                             to stdout, which then carries nothing else (the summary goes to stderr)
          --html <file>      also write a self-contained HTML report (verdict, findings, charts, power timeline)
          --fail-on-waste    exit with code 3 when any finding is waste (for CI gates)
          --step <N>         two profiler traces: compare ProfilerStep#N (default: each side's last complete step)
          --rank <R>         two multi-rank profiler traces: compare rank R (default: the lowest rank)
          --quiet            do not print the terminal summary (nor the live progress display)
          --cluster <h:p>    run on a cluster through its gateway(s) (host:port[,host:port]) instead of an
                             embedded silo; local bundles are checked here, then uploaded to the cluster's
                             store (once: the run id is the hash of the files); run:<id> names a stored run
          --timeout <s>      with --cluster: give up after this many seconds in all, with one line (default 3600)
          --cancel           with --cluster: Ctrl-C or SIGTERM also cancels the job in the cluster (without it
                             the job carries on, and asking again later returns its report)
          -h, --help         show compare's options
          -v, --verbose      (any command) print the log file's path and show the errors Orleans logged

        <bundleA> and <bundleB> may also be two plain PyTorch profiler traces (*.json, *.json.gz, or directories of
        per-rank traces): their operators are then matched by name and call-tree position within one step, values
        are not compared and energy is not measured (GPU time only; matching.mode "structure" in the report).

        Without --cluster the comparison runs on an Orleans silo embedded in this process. On a cluster, the same
        comparison of the same runs is done once: asking again returns the stored report.

        Exit codes:
          0  the command ran
          1  internal error
          2  bad input: arguments, a bundle that cannot be read (one line names the file and the field),
             or a --cluster that does not answer
          3  with --fail-on-waste: waste was found
          130 interrupted (Ctrl-C, SIGTERM): the command ends within 2 s

        """;
}
