using System.Security.Cryptography;
using System.Text;

namespace Magneton.Grains.Storage;

/// <summary>
/// Mutual exclusion per key among the threads of this process and among processes sharing a directory (several
/// silos on one machine with one <c>--storage-dir</c>). Keys hash onto a fixed number of lock files
/// (<c>&lt;directory&gt;/&lt;n&gt;.lock</c>), each held with an exclusive OS lock (FileShare.None, flock on Linux)
/// while a key of its stripe is in use, so the number of lock files stays bounded.
/// </summary>
public sealed class StripedFileLock
{
    static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    readonly string _directory;
    readonly SemaphoreSlim[] _local;

    public StripedFileLock(string directory, int stripes = 64)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(stripes, 1);
        _directory = directory;
        _local = Enumerable.Range(0, stripes).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
        Directory.CreateDirectory(directory);
    }

    /// <summary>The same stripe in every process: the first 4 bytes of the key's SHA-256.</summary>
    int StripeOf(string key) => (int)(BitConverter.ToUInt32(SHA256.HashData(Encoding.UTF8.GetBytes(key)), 0) % (uint)_local.Length);

    public async Task<IDisposable> AcquireAsync(string key, CancellationToken ct = default)
    {
        var stripe = StripeOf(key);
        var local = _local[stripe];
        await local.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var path = Path.Combine(_directory, $"{stripe}.lock");
            var deadline = DateTime.UtcNow + Timeout;
            var delay = 5;
            while (true)
            {
                try
                {
                    var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None);
                    return new Held(local, file);
                }
                catch (DirectoryNotFoundException)
                {
                    Directory.CreateDirectory(_directory); // removed under us: make it again
                    continue;
                }
                catch (IOException) when (DateTime.UtcNow < deadline && !ct.IsCancellationRequested)
                {
                    // Another process holds the stripe.
                }
                await Task.Delay(delay, ct).ConfigureAwait(false);
                delay = Math.Min(delay * 2, 50);
            }
        }
        catch
        {
            local.Release();
            throw;
        }
    }

    sealed class Held(SemaphoreSlim local, FileStream file) : IDisposable
    {
        int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0) return;
            file.Dispose();
            local.Release();
        }
    }
}
