using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Magneton.Core.Bundles;
using Magneton.Grains;

namespace Magneton.Client;

/// <summary><c>magneton runs --cluster host:port [--json]</c>: the bundles stored in a cluster.</summary>
public static class RunsCommand
{
    internal static Command Definition(TextWriter stdout, TextWriter stderr) =>
        Listing("runs", "Lists the bundles stored in a cluster: run id (as compare takes it), system, size, when and from where.",
            "print the runs as JSON", (cluster, json, ct) => RunAsync(cluster, json, stdout, ct));

    /// <summary>A listing of a cluster's state (runs, workers): --cluster, required, and --json.</summary>
    internal static Command Listing(string name, string description, string json, Func<ClusterTarget, bool, CancellationToken, Task<int>> run)
    {
        var cluster = new ClusterOptionSet(required: true);
        var asJson = CliOptions.JsonFlag(json);
        var command = new Command(name, description) { asJson };
        cluster.AddTo(command);
        command.SetAction((pr, ct) => run(cluster.ReadRequired(pr), pr.GetValue(asJson), ct));
        return command;
    }

    public static async Task<int> RunAsync(ClusterTarget cluster, bool json, TextWriter stdout, CancellationToken ct)
    {
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
                $"{RunArgument.Typed(r.RunId),-22} {Trim(r.System, 36),-36} {BundleLimits.Describe(r.TotalBytes),10}  {stored,-19}  {r.Origin}").ConfigureAwait(false);
        }
        return Program.Ok;
    }

    static string Trim(string s, int width) => s.Length <= width ? s : s[..(width - 1)] + "…";
}
