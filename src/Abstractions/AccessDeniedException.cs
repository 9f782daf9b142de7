namespace Magneton.Grains;

/// <summary>A call the caller's certificate does not allow (a role it lacks): one line, exit code 2, never retried.</summary>
[GenerateSerializer, Alias("Magneton.AccessDeniedException")]
public sealed class AccessDeniedException : Exception
{
    public AccessDeniedException(string message) : base(message)
    {
    }
}
