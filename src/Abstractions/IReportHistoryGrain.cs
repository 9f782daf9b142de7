namespace Magneton.Grains;

/// <summary>The kinds of report a cluster keeps a history of.</summary>
public enum ReportKind { Audit, Campaign }

/// <summary>
/// One node of an audit or one version of a campaign, as a stored report remembers it: enough for the next audit of
/// the same system to compare each node with its own previous run, without reading the whole report.
/// </summary>
[GenerateSerializer, Alias("Magneton.ReportItem")]
public sealed record ReportItem(
    [property: Id(0)] string Name,
    [property: Id(1)] string RunId,
    [property: Id(2)] double IterationEnergyJ,
    [property: Id(3)] double IterationTimeS,
    [property: Id(4)] bool Flagged);

/// <summary>A report in a system's history: its id (the report's key in the store), when it was made, its verdict.</summary>
[GenerateSerializer, Alias("Magneton.StoredReport")]
public sealed record StoredReport(
    [property: Id(0)] string Id,
    [property: Id(1)] ReportKind Kind,
    [property: Id(2)] string System,
    [property: Id(3)] DateTimeOffset Date,
    [property: Id(4)] string Verdict,
    [property: Id(5)] ReportItem[] Items)
{
    /// <summary>The client's id of the call that added it: a retried Add (its answer lost) returns the entry made first.</summary>
    [Id(6)] public string? Request { get; init; }
}

/// <summary>
/// The reports of one system (key <c>"audit:NAME"</c> or <c>"campaign:NAME"</c>, see <see cref="ReportHistoryKeys"/>),
/// oldest first; the report JSON goes to the cluster's store under the entry's id. The grain keyed by the kind alone
/// (<c>"audit"</c>) lists the systems that have a history.
/// </summary>
[Alias("Magneton.IReportHistoryGrain")]
public interface IReportHistoryGrain : IGrainWithStringKey
{
    /// <summary>Stores the report; the entry's id is assigned here (<see cref="StoredReport.Id"/> is ignored).</summary>
    [RequiresRole(ClusterRoles.Submit)] [Alias("Add")] Task<StoredReport> Add(StoredReport entry, byte[] json);

    /// <summary>The latest entry dated before <paramref name="date"/>, or null: what a new report compares with.</summary>
    [RequiresRole(ClusterRoles.Read)] [Alias("Previous")] Task<StoredReport?> Previous(DateTimeOffset date);

    [RequiresRole(ClusterRoles.Read)] [Alias("List")] Task<StoredReport[]> List();
    [RequiresRole(ClusterRoles.Read)] [Alias("GetReport")] Task<byte[]?> GetReport(string id);

    /// <summary>On the kind's grain: the systems with a history.</summary>
    [RequiresRole(ClusterRoles.Read)] [Alias("Systems")] Task<string[]> Systems();
    [RequiresRole(ClusterRoles.Submit)] [Alias("Register")] Task Register(string system);
}

public static class ReportHistoryKeys
{
    public static string Kind(ReportKind kind) => kind == ReportKind.Audit ? "audit" : "campaign";
    public static string Of(ReportKind kind, string system) => $"{Kind(kind)}:{system}";
}
