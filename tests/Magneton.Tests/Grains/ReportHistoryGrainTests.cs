using System.Text;
using Magneton.Grains;
using Xunit;

namespace Magneton.Tests.Grains;

/// <summary>The history of a system's audits: entries by date, the previous one of a date, retried adds made once.</summary>
public sealed class ReportHistoryGrainTests(ClusterFixture fx) : IClassFixture<ClusterFixture>
{
    static StoredReport Entry(string system, string date, double n2Energy) =>
        new("", ReportKind.Audit, system, DateTimeOffset.Parse(date + "T03:30:00Z", System.Globalization.CultureInfo.InvariantCulture),
            "verdict", [new ReportItem("n1/gpu0", "run-a", 1.3, 0.005, false), new ReportItem("n2/gpu0", "run-b", n2Energy, 0.005, n2Energy > 1.4)]);

    [Fact]
    public async Task Entries_are_kept_by_date_the_previous_one_is_the_latest_before_and_a_retried_add_is_made_once()
    {
        string system = "fleet " + Guid.NewGuid().ToString("N")[..6]; // a space: not in the store's key alphabet
        var history = fx.Client.GetGrain<IReportHistoryGrain>(ReportHistoryKeys.Of(ReportKind.Audit, system));
        var day2 = await history.Add(Entry(system, "2026-03-02", 1.73) with { Request = "r2" }, Encoding.UTF8.GetBytes("{\"day\": 2}"));
        var day1 = await history.Add(Entry(system, "2026-03-01", 1.3) with { Request = "r1" }, Encoding.UTF8.GetBytes("{\"day\": 1}"));
        // The same call again (its answer lost): the entry made first, nothing added.
        Assert.Equal(day2.Id, (await history.Add(Entry(system, "2026-03-02", 1.73) with { Request = "r2" }, [])).Id);

        Assert.Matches("^audit-fleet_[0-9a-f]{6}-20260302-0001$", day2.Id);
        Assert.Equal([day1.Id, day2.Id], (await history.List()).Select(e => e.Id));
        Assert.Null(await history.Previous(day1.Date));
        Assert.Equal(day1.Id, (await history.Previous(day2.Date))?.Id);
        Assert.Equal(day2.Id, (await history.Previous(day2.Date.AddDays(1)))?.Id);
        Assert.Equal("{\"day\": 1}", Encoding.UTF8.GetString((await history.GetReport(day1.Id))!));
        Assert.Null(await history.GetReport("audit-other-20260301-0001"));
        Assert.Contains(system, await fx.Client.GetGrain<IReportHistoryGrain>(ReportHistoryKeys.Kind(ReportKind.Audit)).Systems());

        // An entry of another system is refused by this history.
        await Assert.ThrowsAsync<MagnetonInputException>(() => history.Add(Entry("other", "2026-03-03", 1.3), []));
    }
}
