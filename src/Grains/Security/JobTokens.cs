using System.Security.Cryptography;
using System.Text;

namespace Magneton.Grains;

/// <summary>
/// The token that binds a capture job's attempt to the worker it was given to. Only its hash is kept (persisted with
/// the queue), so neither the store nor a listing can hand it to someone else.
/// </summary>
public static class JobTokens
{
    public static (string Token, string Hash) Issue()
    {
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
        return (token, Hash(token));
    }

    public static bool Matches(string? hash, string? token) =>
        hash is not null && token is not null
        && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(hash), Encoding.ASCII.GetBytes(Hash(token)));

    static string Hash(string token) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}
