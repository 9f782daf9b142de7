namespace Magneton.Core.Bundles;

/// <summary>Reads a file into one array after checking it fits, so size problems are reported, not thrown as OOM.</summary>
internal static class WholeFile
{
    public static byte[] ReadAllBytes(string path, string file)
    {
        try
        {
            using var stream = InputFile.Open(path, file, bufferSize: 1);
            long length = stream.Length;
            if (length > BundleLimits.MaxWholeFileBytes)
                throw new BundleException(file, "file",
                    $"is {BundleLimits.Describe(length)}; files read whole are limited to {BundleLimits.Describe(BundleLimits.MaxWholeFileBytes)}");
            var bytes = new byte[length];
            stream.ReadExactly(bytes);
            return bytes;
        }
        catch (Exception ex) when (ex is not BundleException && BundleErrors.IsInputFailure(ex))
        {
            throw BundleErrors.From(file, ex);
        }
    }
}
