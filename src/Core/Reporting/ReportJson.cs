using System.Text.Json;
using System.Text.Json.Serialization;

namespace Magneton.Core.Reporting;

/// <summary>How a report is written as a file: names from the records' attributes, NaN/Infinity as literals.</summary>
public static class ReportJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}
