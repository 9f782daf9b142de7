using System.Net;
using System.Net.Sockets;

namespace Magneton.Client;

/// <summary>The <c>--cluster</c> value: one or more gateways, "host:port[,host:port...]".</summary>
public static class ClusterEndpoints
{
    public static IReadOnlyList<(string Host, int Port)> Parse(string text)
    {
        var list = new List<(string, int)>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int colon = part.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(part[(colon + 1)..], out int port) || port is < 1 or > 65535)
                throw new UsageException($"--cluster: '{part}' is not host:port (for example 127.0.0.1:30000)");
            list.Add((part[..colon].Trim('[', ']'), port));
        }
        if (list.Count == 0) throw new UsageException("--cluster needs a gateway address host:port");
        return list;
    }

    /// <summary>Resolves host names (a Kubernetes service name, localhost) to addresses.</summary>
    public static async Task<IPEndPoint[]> ResolveAsync(string text, CancellationToken ct)
    {
        var result = new List<IPEndPoint>();
        foreach (var (host, port) in Parse(text))
        {
            if (IPAddress.TryParse(host, out var ip)) { result.Add(new IPEndPoint(ip, port)); continue; }
            IPAddress[] addresses;
            try
            {
                addresses = await Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false);
            }
            catch (SocketException e)
            {
                throw new UsageException($"--cluster: cannot resolve '{host}': {e.Message}");
            }
            var v4 = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
                ?? throw new UsageException($"--cluster: '{host}' has no address");
            result.Add(new IPEndPoint(v4, port));
        }
        return [.. result];
    }
}
