using System.CommandLine;

namespace Magneton.Client;

/// <summary>
/// The options of every command that talks to a cluster, read as one <see cref="ClusterTarget"/>. A new connection
/// option (TLS, a timeout) is added here once and every cluster command has it.
/// </summary>
internal sealed class ClusterOptionSet
{
    readonly Option<string?> _cluster;

    /// <param name="required">runs, workers, worker, submit: there is no embedded silo to fall back to</param>
    public ClusterOptionSet(bool required, string description = "the cluster's gateway(s), host:port[,host:port]")
    {
        _cluster = CliOptions.Value<string?>("--cluster", "host:port", description, v =>
        {
            ClusterEndpoints.Parse(v); // a malformed address fails before anything starts
            return v;
        });
        _cluster.Required = required;
    }

    public void AddTo(Command command)
    {
        command.Add(_cluster);
        TlsArguments.AddTo(command);
    }

    /// <summary>The target, or null where --cluster is absent (an embedded silo then).</summary>
    public ClusterTarget? Read(ParseResult pr) => pr.GetValue(_cluster) is { } address ? new ClusterTarget(address) : null;

    /// <summary>The target of a command that requires --cluster.</summary>
    public ClusterTarget ReadRequired(ParseResult pr) => Read(pr) ?? throw new UsageException("--cluster host:port is required");
}
