using System.CommandLine;

namespace Magneton.Client;

/// <summary>
/// The options of <c>campaign --capture</c>: the versions (<c>--version NAME=WORKLOAD [ARGS]</c>, repeated), the worker
/// they are all captured on, the name and date the campaign is stored under, and the probe's options.
/// </summary>
internal sealed class CampaignCaptureOptions
{
    readonly Option<bool> _capture = CliOptions.Flag("--capture",
        "capture the baseline and every --version on the cluster's GPU workers first, then run the campaign and store its report");
    readonly Option<string[]> _versions = new("--version")
    {
        HelpName = "NAME=WORKLOAD [ARGS]",
        Description = "with --capture: a version to capture, in order (repeat the option); WORKLOAD is a workload of the workers' "
                      + "file with its declared arguments, or a Python command (workers with --allow-any-command)",
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
    };
    readonly Option<string?> _system = CliOptions.NonEmpty("--system", "name", "with --capture: the campaign's name in the history (default: the baseline's NAME)");
    readonly Option<string?> _worker = CliOptions.NonEmpty("--worker", "node/gpuN", "with --capture: the worker GPU that captures every version (default: the first alive)");
    readonly Option<bool> _spread = CliOptions.Flag("--any-worker", "with --capture: let any worker capture each version (sensor differences between boards then enter)");
    readonly Option<DateTimeOffset?> _date = CliOptions.Value<DateTimeOffset?>("--date", "date",
        "with --capture: the date the campaign is stored under (default now)", v => ReportHistoryCommand.ParseDate(v));
    readonly ProbeOptionSet _probe = new();

    public void AddTo(Command command)
    {
        command.Add(_capture);
        command.Add(_versions);
        command.Add(_system);
        command.Add(_worker);
        command.Add(_spread);
        command.Add(_date);
        _probe.AddTo(command);
    }

    public bool Given(ParseResult pr) => pr.GetValue(_capture);

    public void CheckNotGiven(ParseResult pr)
    {
        CliOptions.OnlyWith(pr, "--capture", CampaignCapture.Example, _versions, _system, _worker, _spread, _date);
        if (_probe.Read(pr).Count > 0) throw new UsageException($"probe options need --capture ({CampaignCapture.Example})");
    }

    public CampaignCapture.Arguments Read(ParseResult pr, CampaignCommand.Arguments args)
    {
        if (args.Cluster is null) throw new UsageException($"campaign --capture needs --cluster host:port: the captures run on its GPU workers ({CampaignCapture.Example})");
        if (args.Versions.Count > 0)
            throw new UsageException($"unexpected argument '{args.Versions[0]}': with --capture, versions are --version NAME=WORKLOAD ({CampaignCapture.Example})");
        var versions = (pr.GetValue(_versions) ?? []).Select(v => CampaignCapture.Version.Parse("--version", v)).ToList();
        if (versions.Count == 0) throw new UsageException($"campaign --capture needs one --version NAME=WORKLOAD or more ({CampaignCapture.Example})");
        var baseline = CampaignCapture.Version.Parse("--baseline", args.Baseline);
        var names = versions.Prepend(baseline).Select(v => v.Name).ToList();
        if (names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new UsageException($"campaign --capture: version name {twice.Key} is given twice");
        if (pr.GetValue(_spread) && pr.GetValue(_worker) is not null) throw new UsageException("options --worker and --any-worker exclude each other");
        return new CampaignCapture.Arguments(args.Cluster, pr.GetValue(_system) ?? baseline.Name, baseline, versions, pr.GetValue(_worker),
            pr.GetValue(_spread), [.. _probe.Read(pr)], pr.GetValue(_date) ?? DateTimeOffset.UtcNow, args.Threshold);
    }
}
