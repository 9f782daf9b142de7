using Magneton.Grains;

namespace Magneton.Client;

/// <summary>
/// A client's answer to a job or campaign that waits for a run its cluster's store lost (listed, but its files gone):
/// the bundle uploaded again from this client when it holds it, at most <see cref="MaxUploadsAgain"/> times per run;
/// otherwise the cluster's one line, exit 2.
/// </summary>
public sealed class LostRunUploads(Func<string, CancellationToken, Task<bool>>? uploadAgain, TextWriter log)
{
    /// <summary>Uploads of one lost run before the client gives up on it.</summary>
    public const int MaxUploadsAgain = 2;

    readonly Dictionary<string, int> _uploads = new(StringComparer.Ordinal);

    /// <summary>Uploads <paramref name="runId"/> again, or throws the one-line <see cref="MagnetonUnavailableException"/>.</summary>
    public async Task UploadAgainAsync(string runId, string? problem, CancellationToken ct)
    {
        int n = _uploads[runId] = _uploads.GetValueOrDefault(runId) + 1;
        if (n > MaxUploadsAgain || uploadAgain is null || !await uploadAgain(runId, ct).ConfigureAwait(false))
            throw new MagnetonUnavailableException(problem ?? $"{RunIds.Typed(runId)}: the cluster's store does not hold this run's bundle; upload it again", runId);
        await log.WriteLineAsync($"{RunIds.Typed(runId)}: the cluster's store had lost this run; uploaded it again").ConfigureAwait(false);
    }
}
