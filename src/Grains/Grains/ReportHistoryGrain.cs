using System.Globalization;
using Magneton.Grains.Storage;

namespace Magneton.Grains;

[GenerateSerializer, Alias("Magneton.ReportHistoryState")]
public sealed class ReportHistoryState
{
    [Id(0)] public List<StoredReport> Entries { get; set; } = [];
    [Id(1)] public long Added { get; set; }
    /// <summary>On the kind's grain: the systems with a history.</summary>
    [Id(2)] public SortedSet<string> Systems { get; set; } = new(StringComparer.Ordinal);
    /// <summary>Report JSON of a cluster without a bundle store (the embedded silo); otherwise the store holds it.</summary>
    [Id(3)] public Dictionary<string, byte[]> Reports { get; set; } = [];
}

/// <summary>
/// The history of one system's audits or campaigns (see <see cref="IReportHistoryGrain"/>). Entries are small and kept
/// in the grain's state, at most <see cref="KeptEntries"/> (a year of nightly audits); the report itself goes to the
/// bundle store, which already holds every comparison's report.
/// </summary>
public sealed class ReportHistoryGrain(
    [PersistentState("history", GrainServiceRegistration.JobStorage)] IPersistentState<ReportHistoryState> state,
    IServiceProvider services) : Grain, IReportHistoryGrain
{
    public const int KeptEntries = 400, MaxSystems = 1000;
    /// <summary>A report larger than this is refused: a client must not grow the store without bound.</summary>
    public const int MaxReportBytes = 16 * 1024 * 1024;

    readonly IBundleStore? _store = services.GetService(typeof(IBundleStore)) as IBundleStore;

    string Key => this.GetPrimaryKeyString();

    public async Task<StoredReport> Add(StoredReport entry, byte[] json)
    {
        string expected = ReportHistoryKeys.Of(entry.Kind, entry.System);
        if (Key != expected) throw new MagnetonInputException($"report history {Key}: an entry of {expected} belongs to that history");
        if (json.Length > MaxReportBytes) throw new MagnetonInputException($"report history {Key}: the report is larger than {MaxReportBytes} bytes");
        if (entry.Request is { } request && state.State.Entries.FirstOrDefault(e => e.Request == request) is { } known) return known;
        await GrainFactory.GetGrain<IReportHistoryGrain>(ReportHistoryKeys.Kind(entry.Kind)).Register(entry.System);

        long n = ++state.State.Added;
        string id = string.Create(CultureInfo.InvariantCulture,
            $"{ReportHistoryKeys.Kind(entry.Kind)}-{Slug(entry.System)}-{entry.Date.UtcDateTime:yyyyMMdd}-{n:D4}");
        var stored = entry with { Id = id };
        if (_store is not null)
            await Transient.RetryAsync(() => _store.PutReportAsync(id, json), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, $"storing report {id}");
        else state.State.Reports[id] = json;
        state.State.Entries.Add(stored);
        // Kept in date order (a report may be dated back); the oldest go first when the history is full.
        state.State.Entries = [.. state.State.Entries.OrderBy(e => e.Date).ThenBy(e => e.Id, StringComparer.Ordinal)];
        while (state.State.Entries.Count > KeptEntries)
        {
            state.State.Reports.Remove(state.State.Entries[0].Id);
            state.State.Entries.RemoveAt(0);
        }
        await state.WriteStateAsync();
        return stored;
    }

    public Task<StoredReport?> Previous(DateTimeOffset date) =>
        Task.FromResult(state.State.Entries.LastOrDefault(e => e.Date < date));

    public Task<StoredReport[]> List() => Task.FromResult(state.State.Entries.ToArray());

    public async Task<byte[]?> GetReport(string id)
    {
        if (!state.State.Entries.Any(e => e.Id == id)) return null;
        if (state.State.Reports.TryGetValue(id, out var json)) return json;
        return _store is null ? null : await _store.GetReportAsync(id);
    }

    public Task<string[]> Systems() => Task.FromResult(state.State.Systems.ToArray());

    public async Task Register(string system)
    {
        if (state.State.Systems.Contains(system)) return;
        if (state.State.Systems.Count >= MaxSystems) throw new MagnetonInputException($"report history {Key}: more than {MaxSystems} systems");
        state.State.Systems.Add(system);
        await state.WriteStateAsync();
    }

    /// <summary>The system's name as a report id part, in the store's key alphabet (no '.', so never "..").</summary>
    static string Slug(string system) =>
        new([.. system.Take(120).Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' ? c : '_')]);
}
