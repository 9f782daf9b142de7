using Magneton.Silo;

namespace Magneton.Client;

/// <summary>
/// <c>--tls-cert PEM --tls-key PEM --tls-ca PEM</c> (or MAGNETON_TLS_CERT / MAGNETON_TLS_KEY / MAGNETON_TLS_CA), taken
/// by every command that talks to a cluster or is part of one (silo, worker, the client commands). Parsed once, in
/// <see cref="Program"/>, before the command's own options; the command's cluster connection or silo then uses
/// <see cref="Current"/>.
/// </summary>
public static class TlsArguments
{
    public const string CertVariable = "MAGNETON_TLS_CERT", KeyVariable = "MAGNETON_TLS_KEY", CaVariable = "MAGNETON_TLS_CA";

    static readonly AsyncLocal<ClusterCertificates?> InFlow = new();

    /// <summary>The certificates of the command running in this flow; null: no TLS.</summary>
    public static ClusterCertificates? Current => InFlow.Value;

    /// <summary>Removes the TLS options from the arguments (those before a "--") and loads the certificates, if any.</summary>
    public static string[] Apply(string[] args)
    {
        string? cert = null, key = null, ca = null;
        var rest = new List<string>(args.Length);
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--")
            {
                rest.AddRange(args[i..]);
                break;
            }
            switch (args[i])
            {
                case "--tls-cert": cert = Value(args, ref i); break;
                case "--tls-key": key = Value(args, ref i); break;
                case "--tls-ca": ca = Value(args, ref i); break;
                default: rest.Add(args[i]); break;
            }
        }
        cert ??= Variable(CertVariable);
        key ??= Variable(KeyVariable);
        ca ??= Variable(CaVariable);
        if (cert is null && key is null && ca is null)
        {
            InFlow.Value = null;
            return [.. rest];
        }
        if (cert is null || key is null || ca is null)
            throw new UsageException("TLS needs all three of --tls-cert, --tls-key and --tls-ca (or MAGNETON_TLS_CERT, MAGNETON_TLS_KEY, MAGNETON_TLS_CA)");
        try
        {
            InFlow.Value = ClusterCertificates.Load(cert, key, ca);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(Program.OneLine(e.Message));
        }
        return [.. rest];
    }

    static string Value(string[] args, ref int i)
    {
        if (i + 1 >= args.Length || args[i + 1] == "--") throw new UsageException($"option {args[i]} needs a value");
        return args[++i];
    }

    static string? Variable(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
}
