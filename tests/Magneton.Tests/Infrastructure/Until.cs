using System.Diagnostics;
using Xunit.Sdk;

namespace Magneton.Tests.Infrastructure;

/// <summary>Waiting on a condition instead of sleeping: polls until it holds, fails with the last value at the deadline.</summary>
public static class Until
{
    public static async Task<T> HoldsAsync<T>(Func<Task<T>> read, Func<T, bool> condition, TimeSpan deadline, string what)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var value = await read().ConfigureAwait(false);
            if (condition(value)) return value;
            if (sw.Elapsed > deadline)
                throw new XunitException($"not {what} within {deadline.TotalSeconds:0} s; last: {value}");
            await Task.Delay(50).ConfigureAwait(false);
        }
    }
}
