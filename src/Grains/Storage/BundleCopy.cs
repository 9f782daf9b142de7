namespace Magneton.Grains.Storage;

/// <summary>
/// A local directory holding a complete bundle (<see cref="IBundleStore.OpenAsync"/>), kept while this is not
/// disposed: a bounded download cache does not evict a copy someone is reading. Read the bundle, then dispose.
/// </summary>
public sealed class BundleCopy(string directory, IDisposable? hold) : IDisposable
{
    public string Directory { get; } = directory;

    public void Dispose() => hold?.Dispose();
}
