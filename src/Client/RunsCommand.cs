using System.Globalization;
using System.Text.Json;
using Magneton.Core.Bundles;
using Magneton.Grains;

namespace Magneton.Client;

/// <summary><c>magneton runs --cluster host:port [--json]</c>: the bundles stored in a cluster.</summary>
public static class RunsCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var (cluster, json, help) = ParseListing(args, "runs", "lists a cluster's stored bundles");
        if (help)
        {
            await stdout.WriteAsync(Usage.Text).ConfigureAwait(false);
            return Program.Ok;
        }

        await using var connection = await ClusterConnection.ConnectAsync(cluster, ct).ConfigureAwait(false);
        var catalog = connection.Client.GetGrain<ICatalogGrain>(0);
        var runs = await catalog.ListRuns().ConfigureAwait(false);
        if (json)
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(runs.Select(r => new
            {
                run_id = r.RunId, system = r.System, bytes = r.TotalBytes, files = r.Files.Length,
                stored_at = r.StoredAt, origin = r.Origin,
            }), Magneton.Core.Reporting.ReportJson.Options)).ConfigureAwait(false);
            return Program.Ok;
        }
        var location = await catalog.StoreLocation().ConfigureAwait(false);
        await stdout.WriteLineAsync($"{runs.Length} run(s) in {location ?? "a cluster without a bundle store"}").ConfigureAwait(false);
        if (runs.Length == 0) return Program.Ok;
        await stdout.WriteLineAsync($"{"RUN",-22} {"SYSTEM",-36} {"SIZE",10}  {"STORED (UTC)",-19}  ORIGIN").ConfigureAwait(false);
        foreach (var r in runs)
        {
            var stored = r.StoredAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
            await stdout.WriteLineAsync(
                $"{r.RunId,-22} {Trim(r.System, 36),-36} {BundleLimits.Describe(r.TotalBytes),10}  {stored,-19}  {r.Origin}").ConfigureAwait(false);
        }
        return Program.Ok;
    }

    /// <summary>The arguments of a cluster listing (runs, workers): --cluster (required) and --json.</summary>
    internal static (string Cluster, bool Json, bool Help) ParseListing(string[] args, string command, string what)
    {
        string? cluster = null;
        bool json = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--cluster":
                    cluster = CaptureCommand.Value(args, ref i);
                    ClusterEndpoints.Parse(cluster);
                    break;
                case "--json":
                    json = true;
                    break;
                case "-h" or "--help":
                    return ("", false, true);
                default:
                    throw new UsageException($"unexpected argument '{args[i]}' for {command} (magneton {command} --cluster host:port [--json])");
            }
        }
        return cluster is null
            ? throw new UsageException($"{command} {what}: magneton {command} --cluster host:port")
            : (cluster, json, false);
    }

    static string Trim(string s, int width) => s.Length <= width ? s : s[..(width - 1)] + "…";
}
