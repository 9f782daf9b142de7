namespace Magneton.Client;

/// <summary><c>magneton silo</c>: runs a silo host process until SIGTERM/SIGINT. STUB.</summary>
public static class SiloCommand
{
    public static Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct = default) =>
        throw new UsageException("magneton silo: not implemented yet");
}
