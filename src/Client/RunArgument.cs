using Magneton.Grains;
using Magneton.Grains.Storage;

namespace Magneton.Client;

/// <summary>
/// A stored run as the command line names it: <c>run:&lt;id&gt;</c>, printed that way by every command (runs, capture,
/// submit, workers, uploads) and accepted with or without the id's own "run-" (<c>run:4d68...</c> and
/// <c>run:run-4d68...</c> are one run). JSON keeps the grain's run id (<c>run_id: "run-4d68..."</c>).
/// </summary>
public static class RunArgument
{
    public const string Prefix = "run:";
    const string IdPrefix = "run-";

    public static bool Is(string argument) => argument.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>The run id of a <c>run:&lt;id&gt;</c> argument; bad input when the id is missing or cannot be one.</summary>
    public static string Id(string argument)
    {
        var id = argument[Prefix.Length..];
        if (id.Length == 0 || id == IdPrefix)
            throw new UsageException($"{argument}: no run id after '{Prefix}' (run:<id>, as magneton runs --cluster <h:p> lists them)");
        if (!id.StartsWith(IdPrefix, StringComparison.Ordinal)) id = IdPrefix + id;
        if (!BundleStoreNames.IsValidName(id))
            throw new UsageException($"{argument}: not a run id (run:<id>, as magneton runs --cluster <h:p> lists them)");
        return id;
    }

    /// <summary>"run:4d68..." for the run id "run-4d68...": what a user types to name it.</summary>
    public static string Typed(string runId) => RunIds.Typed(runId);
}
