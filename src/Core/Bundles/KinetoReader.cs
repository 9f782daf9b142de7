using System.IO.Compression;

namespace Magneton.Core.Bundles;

/// <summary>kineto.json.gz: decompressed and reduced in one streaming pass, never held whole.</summary>
internal static class KinetoReader
{
    private const string File = BundleFiles.Kineto;

    public static KinetoSummary Read(string path, CancellationToken cancel = default, InputLimits? limits = null)
    {
        try
        {
            limits ??= InputLimits.Current;
            using var file = InputFile.Open(path, File);
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            using var tokens = TraceScanner.Tokens(new BoundedReadStream(gzip, file, File, limits));
            TraceTables tables;
            try
            {
                tables = TraceScanner.Scan(tokens, cancel, limits);
            }
            catch (BundleException) when (tokens.ReachedEnd && GzipTrailer.Mismatch(file, tokens.BytesRead) is { } problem)
            {
                // A truncated download decodes to a JSON prefix; say so instead of blaming the JSON.
                throw new BundleException(File, "gzip", problem);
            }
            if (GzipTrailer.Mismatch(file, tokens.BytesRead) is { } trailer) throw new BundleException(File, "gzip", trailer);
            return TraceReduction.Reduce(tables);
        }
        catch (Exception ex) when (ex is not (BundleException or OperationCanceledException) && BundleErrors.IsInputFailure(ex))
        {
            throw BundleErrors.From(File, ex);
        }
    }
}
