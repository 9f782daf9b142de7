using System.CommandLine;
using Magneton.Silo;

namespace Magneton.Client;

/// <summary>
/// <c>--tls-cert PEM --tls-key PEM --tls-ca PEM</c> (or MAGNETON_TLS_CERT / MAGNETON_TLS_KEY / MAGNETON_TLS_CA), options
/// of every command that talks to a cluster or is part of one (silo, worker, the client commands: added with
/// <see cref="AddTo"/>, so each command's --help lists them). <see cref="Cli"/> loads them once the command line is
/// parsed; the command's cluster connection or silo then uses <see cref="Current"/>.
/// </summary>
public static class TlsArguments
{
    public const string CertVariable = "MAGNETON_TLS_CERT", KeyVariable = "MAGNETON_TLS_KEY", CaVariable = "MAGNETON_TLS_CA";
    const string CertName = "--tls-cert", KeyName = "--tls-key", CaName = "--tls-ca";

    static readonly AsyncLocal<ClusterCertificates?> InFlow = new();

    /// <summary>The certificates of the command running in this flow; null: no TLS.</summary>
    public static ClusterCertificates? Current => InFlow.Value;

    internal static void AddTo(Command command)
    {
        command.Add(CliOptions.Value<string?>(CertName, "pem", $"mutual TLS: this process's certificate (also ${CertVariable}); needs {KeyName} and {CaName}", v => v));
        command.Add(CliOptions.Value<string?>(KeyName, "pem", $"mutual TLS: the certificate's private key (also ${KeyVariable})", v => v));
        command.Add(CliOptions.Value<string?>(CaName, "pem", $"mutual TLS: the cluster's CA; only peers it signed are accepted (also ${CaVariable})", v => v));
    }

    /// <summary>Loads the certificates a parsed command line names (its options, else the variables) for this flow.</summary>
    internal static void Apply(ParseResult pr)
    {
        var options = pr.CommandResult.Command.Options;
        string? Named(string name) => options.FirstOrDefault(o => o.Name == name) is Option<string?> o ? pr.GetValue(o) : null;
        Load(Named(CertName), Named(KeyName), Named(CaName));
    }

    /// <summary>The same for a flow that is not a command line (tests' in-process grain clients): TLS options only.</summary>
    public static void Apply(IReadOnlyList<string> tlsOptions)
    {
        var command = new Command("tls");
        AddTo(command);
        Apply(Cli.Parse(command, tlsOptions));
    }

    static void Load(string? cert, string? key, string? ca)
    {
        cert ??= Variable(CertVariable);
        key ??= Variable(KeyVariable);
        ca ??= Variable(CaVariable);
        if (cert is null && key is null && ca is null)
        {
            InFlow.Value = null;
            return;
        }
        if (cert is null || key is null || ca is null)
            throw new UsageException($"TLS needs all three of {CertName}, {KeyName} and {CaName} (or {CertVariable}, {KeyVariable}, {CaVariable})");
        try
        {
            InFlow.Value = ClusterCertificates.Load(cert, key, ca);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(Program.OneLine(e.Message));
        }
    }

    static string? Variable(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
}
