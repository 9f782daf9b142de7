using System.CommandLine;
using System.CommandLine.Parsing;
using Magneton.Core.Audits;

namespace Magneton.Client;

/// <summary>
/// The options of <c>audit --capture</c>: which nodes and GPUs, the workload, the date the audit is stored under, and
/// the probe's options. Without --capture none of them may be given (they would be ignored).
/// </summary>
internal sealed class AuditCaptureOptions
{
    const string Example = "magneton audit --cluster H:P --capture --system NAME --workload NAME [-- declared args]";

    readonly Option<bool> _capture = CliOptions.Flag("--capture",
        "capture the job on the cluster's GPU workers first (one job per selected GPU), then audit the fresh runs and store the report");
    readonly Option<string?> _system = CliOptions.NonEmpty("--system", "name", "with --capture: the system audited; its reports are kept under this name");
    readonly Option<string[]> _nodes = CliOptions.Value("--nodes", "a,b|all", "with --capture: the nodes to capture on (default all)",
        v => List("--nodes", v));
    readonly Option<int[]> _gpus = CliOptions.Value("--gpus", "0,1|all", "with --capture: the GPUs of each node, by index (default all)",
        v => List("--gpus", v).Select(CliOptions.Index("--gpus")).ToArray());
    readonly Option<string?> _workload = CliOptions.NonEmpty("--workload", "name",
        "with --capture: the workers' workload to run; after -- only the arguments it declares");
    readonly Option<DateTimeOffset?> _date = CliOptions.Value<DateTimeOffset?>("--date", "date",
        "with --capture: the date the audit is stored under and compared from (default now)", v => ReportHistoryCommand.ParseDate(v));
    readonly ProbeOptionSet _probe = new();

    public void AddTo(Command command)
    {
        command.Add(_capture);
        command.Add(_system);
        command.Add(_nodes);
        command.Add(_gpus);
        command.Add(_workload);
        command.Add(_date);
        _probe.AddTo(command);
    }

    public bool Given(ParseResult pr) => pr.GetValue(_capture);

    /// <summary>The bundles of a plain audit, after checking that no --capture option was given.</summary>
    public IReadOnlyList<string> CheckNotGiven(ParseResult pr, IReadOnlyList<string> bundles)
    {
        CliOptions.OnlyWith(pr, "--capture", Example, _system, _nodes, _gpus, _workload, _date);
        if (_probe.Read(pr).Count > 0) throw new UsageException($"probe options need --capture ({Example})");
        return bundles;
    }

    public FleetAudit.Arguments Read(ParseResult pr, ClusterTarget? cluster, IReadOnlyList<string> after, double tolerance, double threshold)
    {
        if (cluster is null) throw new UsageException($"audit --capture needs --cluster host:port: the captures run on its GPU workers ({Example})");
        var system = pr.GetValue(_system) ?? throw new UsageException($"audit --capture needs --system <name> ({Example})");
        int afterDash = pr.Tokens.SkipWhile(t => t.Type != TokenType.DoubleDash).Count(t => t.Type == TokenType.Argument);
        if (after.Count > afterDash)
            throw new UsageException($"unexpected argument '{after[0]}': with --capture, the workload's arguments go after -- ({Example})");
        var workload = FleetCapture.Workload.Of(pr.GetValue(_workload), after, Example);
        // "all", and an absent option, read as empty: every node, every GPU.
        return new FleetAudit.Arguments(cluster, system, pr.GetValue(_nodes) is { Length: > 0 } nodes ? nodes : null,
            pr.GetValue(_gpus) is { Length: > 0 } gpus ? gpus : null, workload, [.. _probe.Read(pr)],
            pr.GetValue(_date) ?? DateTimeOffset.UtcNow, tolerance, threshold);
    }

    /// <summary>"a,b" as its items; "all" as none (every one; a null value is not one System.CommandLine takes).</summary>
    static string[] List(string option, string text)
    {
        if (text == "all") return [];
        var items = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return items.Length == 0 ? throw new UsageException($"option {option} needs a list (a,b) or all, got '{text}'") : items;
    }
}
