using Magneton.Grains.Storage;

namespace Magneton.Grains;

/// <summary>
/// What a grain call may throw back to its caller: Magneton's own serializable exceptions and Orleans' ones.
/// A storage client's exception (Azure's RequestFailedException, an IOException of the directory store) does not
/// cross the wire (the caller saw "CodecNotFoundException"); it becomes a one-line
/// <see cref="MagnetonUnavailableException"/> naming the cause, and the store's verdict about data that does not fit
/// its manifest becomes a <see cref="MagnetonInputException"/>. Bugs pass through unchanged.
/// </summary>
public sealed class WireErrors : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        catch (Exception e) when (Translate(e) is { } wire && !ReferenceEquals(wire, e))
        {
            throw wire;
        }
    }

    /// <summary>The exception to send instead of <paramref name="e"/> (itself when it crosses the wire as it is), or null for a bug.</summary>
    public static Exception? Translate(Exception e) => e switch
    {
        MagnetonInputException or MagnetonUnavailableException or OrleansException or TimeoutException
            or OperationCanceledException or ArgumentException or InvalidOperationException => e,
        BundleStoreException s => new MagnetonInputException(OneLine(s.Message)),
        AggregateException { InnerExceptions.Count: 1 } a => Translate(a.InnerException!),
        AggregateException a when a.InnerExceptions.Any(x => Translate(x) is MagnetonInputException) =>
            Translate(a.InnerExceptions.First(x => Translate(x) is MagnetonInputException)),
        AggregateException or IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException
            or System.Net.Http.HttpRequestException or Azure.RequestFailedException or System.Text.Json.JsonException =>
            new MagnetonUnavailableException("storage unavailable: " + Cause(e)),
        // Orleans' own resilience pipelines (directory, membership) time out with Polly's exception, which has no codec.
        _ when e.GetType().Namespace?.StartsWith("Polly", StringComparison.Ordinal) == true =>
            new MagnetonUnavailableException("cluster unavailable: " + Cause(e)),
        _ => null,
    };

    /// <summary>The innermost message, one line: "Connection refused (127.0.0.1:10000)" rather than the SDK's retry summary.</summary>
    public static string Cause(Exception e)
    {
        var inner = e;
        while (inner is AggregateException { InnerExceptions.Count: > 0 } a) inner = a.InnerExceptions[^1];
        inner = inner.GetBaseException();
        var text = inner is Azure.RequestFailedException r ? $"{r.Status} {r.ErrorCode}: {r.Message}" : inner.Message;
        return OneLine(text.Split('\n')[0]);
    }

    static string OneLine(string s) => string.Join(' ', s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
