using System.Text.Json;
using Magneton.Core.Detection;
using Magneton.Core.Reporting;
using Magneton.Core.Runs;
using Magneton.Grains;
using Xunit;

namespace Magneton.Tests.Reports;

/// <summary>
/// The report enums whose JSON names include "" (JsonNameConverter): every member is written as the string the
/// report had when the field was a string, and reads back, in report files and across grain calls alike.
/// </summary>
public sealed class ReportEnumJsonTests
{
    public static TheoryData<JsonSerializerOptions> Options() => new() { ReportJson.Options, MagnetonSerialization.JsonOptions };

    [Theory, MemberData(nameof(Options))]
    public void EnergyBasisIsWrittenAsTheReportStringsAndReadsBack(JsonSerializerOptions options)
    {
        AssertNames(options, new Dictionary<EnergyBasis, string> { [EnergyBasis.None] = "", [EnergyBasis.InSitu] = "in-situ", [EnergyBasis.Replay] = "replay" });
    }

    [Theory, MemberData(nameof(Options))]
    public void SavingBasisIsWrittenAsTheReportStringsAndReadsBack(JsonSerializerOptions options)
    {
        AssertNames(options, new Dictionary<SavingBasis, string> { [SavingBasis.None] = "", [SavingBasis.Total] = "total", [SavingBasis.Dynamic] = "dynamic" });
    }

    [Fact]
    public void AFindingWithNoBasisWritesEmptyStrings()
    {
        var json = JsonSerializer.Serialize(new RegionReport(1, 1, 1, Side(), Side()), ReportJson.Options);
        Assert.Contains("\"energy_basis\": \"\"", json, StringComparison.Ordinal);
        Assert.Equal(EnergyBasis.None, JsonSerializer.Deserialize<RegionReport>(json, ReportJson.Options)!.EnergyBasis);
    }

    [Theory]
    [InlineData("\"InSitu\"")]
    [InlineData("\"in_situ\"")]
    [InlineData("1")]
    [InlineData("null")]
    public void ANameTheReportNeverWroteIsAnError(string json)
    {
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<EnergyBasis>(json, ReportJson.Options));
    }

    static void AssertNames<T>(JsonSerializerOptions options, IReadOnlyDictionary<T, string> expected) where T : struct, Enum
    {
        Assert.Equal(Enum.GetValues<T>().Order(), expected.Keys.Order());
        foreach (var (value, name) in expected)
        {
            string json = JsonSerializer.Serialize(value, options);
            Assert.Equal(JsonSerializer.Serialize(name), json);
            Assert.Equal(name, JsonName.Of(value));
            Assert.Equal(value, JsonSerializer.Deserialize<T>(json, options));
        }
    }

    static RegionSideReport Side() => new([], [], [], 0, 0, "");
}
