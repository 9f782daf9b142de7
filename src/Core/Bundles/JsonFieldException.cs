namespace Magneton.Core.Bundles;

/// <summary>
/// A problem found deep inside a JSON document. The path is built on the way out (each level prepends its segment
/// in a catch), so the happy path allocates no path strings at all; the file reader turns it into a BundleException.
/// </summary>
internal sealed class JsonFieldException(string path, string problem) : Exception(problem)
{
    public string Path { get; } = path;
    public string Problem { get; } = problem;

    /// <summary>The same problem seen from the parent: <paramref name="segment"/> is "nodes[3]" or "stats".</summary>
    public JsonFieldException Under(string segment) =>
        new(Path.Length == 0 ? segment : Path[0] == '[' ? segment + Path : segment + "." + Path, Problem);
}
