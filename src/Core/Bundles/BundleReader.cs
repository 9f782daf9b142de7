namespace Magneton.Core.Bundles;

/// <summary>
/// Reads and validates a capture bundle directory (format "magneton-capture/1"). Any broken or inconsistent input is
/// reported as a BundleException whose message is one line naming the file and the field.
/// </summary>
public static class BundleReader
{
    /// <param name="limits">how far the trace may grow (default: <see cref="InputLimits.Current"/>)</param>
    public static Bundle Read(string directory, InputLimits? limits = null)
    {
        limits ??= InputLimits.Current;
        var path = CheckDirectory(directory);
        foreach (var required in BundleFiles.Required)
            if (!File.Exists(System.IO.Path.Combine(path, required)))
                throw new BundleException(required, "file", $"is missing from bundle {path}");

        // The trace dominates the cost and touches no other file, so it streams on another core meanwhile.
        using var cancel = new CancellationTokenSource();
        var kineto = Task.Run(() => KinetoReader.Read(System.IO.Path.Combine(path, BundleFiles.Kineto), cancel.Token, limits));
        try
        {
            var dataflow = DataflowReader.Read(System.IO.Path.Combine(path, BundleFiles.Dataflow));
            var power = PowerCsvReader.Read(System.IO.Path.Combine(path, BundleFiles.Power), BundleFiles.Power);
            var measure = MeasureReader.Read(System.IO.Path.Combine(path, BundleFiles.Measure));
            var baseline = Optional(path, BundleFiles.BaselinePower, p => PowerCsvReader.Read(p, BundleFiles.BaselinePower));
            var replay = Optional(path, BundleFiles.Replay, ReplayReader.Read);
            var counter = Optional(path, BundleFiles.ReplayCounter, p => PowerCsvReader.Read(p, BundleFiles.ReplayCounter));
            var context = Optional(path, BundleFiles.Context, ContextReader.Read);
            BundleConsistency.RequireSameSystem(dataflow, measure, replay);
            if (replay is not null) ReplayReader.Validate(replay, dataflow);
            OperatorGraphCheck.RequireAcyclic(dataflow);

            var summary = kineto.GetAwaiter().GetResult();
            var bundle = new Bundle(path, dataflow, summary, power, baseline, measure, replay, counter, context);
            BundleConsistency.Require(bundle);
            return bundle;
        }
        catch
        {
            // Report the first broken file in a fixed order; stop the trace rather than leave it running.
            cancel.Cancel();
            try
            {
                kineto.Wait();
            }
            catch (AggregateException)
            {
            }
            throw;
        }
    }

    private static string CheckDirectory(string directory)
    {
        if (string.IsNullOrWhiteSpace(directory))
            throw new BundleException("(bundle)", "directory", "no bundle directory was given");
        string path;
        try
        {
            path = System.IO.Path.GetFullPath(directory);
            if (File.Exists(path))
                throw new BundleException(path, "directory", "is a file, not a bundle directory");
            if (!Directory.Exists(path))
                throw new BundleException(path, "directory", "does not exist");
            if (!Directory.EnumerateFileSystemEntries(path).Any())
                throw new BundleException(path, "directory", "is empty; a bundle needs " + string.Join(", ", BundleFiles.Required));
        }
        catch (Exception ex) when (ex is not BundleException && BundleErrors.IsInputFailure(ex))
        {
            throw new BundleException(directory, "directory", "cannot be read: " + BundleErrors.OneLine(ex.Message));
        }
        return path;
    }

    private static T? Optional<T>(string directory, string file, Func<string, T> read) where T : class
    {
        var path = System.IO.Path.Combine(directory, file);
        return File.Exists(path) ? read(path) : null;
    }
}
