using Magneton.Client;
using Xunit;

namespace Magneton.Tests.Infrastructure;

/// <summary>What one in-process run of the magneton CLI returned and printed.</summary>
public sealed record CliResult(int Code, string Out, string Err);

/// <summary>Runs the whole CLI in this process (<see cref="Program.RunAsync"/>) and checks its error contract.</summary>
public static class CliRunner
{
    public static async Task<CliResult> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await Program.RunAsync(args, stdout, stderr);
        return new CliResult(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Bad input: exit 2, nothing on stdout, one line "magneton: error: ..." with no stack trace.</summary>
    public static void AssertOneLineError(CliResult r, string mustContain)
    {
        Assert.Equal(2, r.Code);
        Assert.Equal("", r.Out);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("magneton: error: ", lines[0]);
        Assert.Contains(mustContain, lines[0]);
        Assert.DoesNotContain(" at ", lines[0]); // no stack trace
    }
}
