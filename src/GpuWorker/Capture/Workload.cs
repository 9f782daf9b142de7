using System.Text.RegularExpressions;

namespace Magneton.GpuWorker.Capture;

/// <summary>
/// A capture a GPU node allows, by name (<c>magneton submit --workload NAME</c>): its Python command, working
/// directory and environment are the node's, and a submitter adds only the arguments it declares.
/// </summary>
public sealed record Workload(
    string Name,
    IReadOnlyList<string> Command,
    string? WorkingDirectory,
    IReadOnlyDictionary<string, string> Environment,
    IReadOnlyList<WorkloadArgument> Arguments)
{
    /// <summary>Where the job runs: the node's GPU (default), or its CPU (<c>"device": "cpu"</c>: no energy, CPU time).</summary>
    public Magneton.Core.Bundles.CaptureDevice Device { get; init; } = Magneton.Core.Bundles.CaptureDevice.Gpu;

    /// <summary>The command with a submitter's arguments, each checked against the declared ones.</summary>
    public IReadOnlyList<string> CommandWith(IReadOnlyList<string> given)
    {
        var command = new List<string>(Command);
        for (int i = 0; i < given.Count; i++)
        {
            var token = given[i];
            int eq = token.IndexOf('=');
            var name = eq > 0 ? token[..eq] : token;
            var declared = Arguments.FirstOrDefault(a => a.Name == name)
                ?? throw new JobRefusedException($"argument '{Shown(name)}' is not declared by workload {Name} ({Declared()})");
            if (declared.Value is null)
            {
                if (eq > 0) throw new JobRefusedException($"argument {name} of workload {Name} is a flag: it takes no value");
                command.Add(token);
                continue;
            }
            string value;
            if (eq > 0) value = token[(eq + 1)..];
            else if (i + 1 < given.Count) value = given[++i];
            else throw new JobRefusedException($"argument {name} of workload {Name} needs a value");
            if (!declared.Matches(value))
                throw new JobRefusedException($"argument {name} of workload {Name}: '{Shown(value)}' does not match {declared.Pattern}");
            command.Add(name);
            command.Add(value);
        }
        return command;
    }

    string Declared() => Arguments.Count == 0
        ? "it takes no arguments"
        : "declared: " + string.Join(", ", Arguments.Select(a => a.ToString()));

    /// <summary>A refused value is named in the job's error, which its submitter reads; cut so it stays one line.</summary>
    static string Shown(string s) => (s.Length > 80 ? s[..80] + "…" : s).ReplaceLineEndings(" ");
}

/// <summary>
/// An argument a workload declares: <c>--flag</c> (no value), or <c>--name=PATTERN</c>, whose value (given as
/// <c>--name VALUE</c> or <c>--name=VALUE</c>) must match the regular expression PATTERN as a whole.
/// </summary>
public sealed record WorkloadArgument(string Name, Regex? Value)
{
    public static WorkloadArgument Parse(string declaration)
    {
        int eq = declaration.IndexOf('=');
        var name = eq > 0 ? declaration[..eq] : declaration;
        if (!name.StartsWith("--", StringComparison.Ordinal) || name.Length < 3 || name.Any(char.IsWhiteSpace))
            throw new ArgumentException($"'{declaration}' is not --name or --name=PATTERN");
        if (eq < 0) return new WorkloadArgument(name, null);
        var pattern = declaration[(eq + 1)..];
        if (pattern.Length == 0) throw new ArgumentException($"'{declaration}': the value pattern is empty");
        try
        {
            return new WorkloadArgument(name, new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100)));
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"'{declaration}': not a regular expression ({e.Message})");
        }
    }

    public bool Matches(string value)
    {
        try
        {
            return Value is not null && Value.IsMatch(value);
        }
        catch (RegexMatchTimeoutException)
        {
            return false;
        }
    }

    /// <summary>The pattern as declared (without the anchors added to match whole values).</summary>
    public string? Pattern => Value?.ToString()[4..^2];

    public override string ToString() => Value is null ? Name : $"{Name}={Pattern}";
}

/// <summary>A job this node does not allow: it fails with the reason, and nothing runs.</summary>
public sealed class JobRefusedException(string message) : Exception(message);
