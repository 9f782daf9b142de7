namespace Magneton.Grains;

/// <summary>
/// One ingested capture bundle (key: run id). The run model itself stays in the silo-local
/// <see cref="RunCache"/>; the grain keeps only the bundle path and the summary.
/// </summary>
[Alias("Magneton.IRunGrain")]
public interface IRunGrain : IGrainWithStringKey
{
    /// <summary>Reads and models the bundle (once per silo). Throws <see cref="MagnetonInputException"/> for bad input.</summary>
    [Alias("Ingest")] Task<RunSummary> Ingest(string bundlePath);

    /// <summary>The summary of the last successful ingest; throws InvalidOperationException if there was none.</summary>
    [Alias("GetSummary")] Task<RunSummary> GetSummary();
}
