using System.CommandLine;
using System.CommandLine.Parsing;

namespace Magneton.Client;

/// <summary>
/// A command line that System.CommandLine refused, as the CLI's one line (exit 2) instead of its default error list
/// and help. The line is chosen from the structure of the parse (which token is unknown, which option lacks its
/// value, which argument is missing), not from System.CommandLine's (localised) messages; the values' own checks
/// (<see cref="CliOptions.Parsed"/>) and the commands' validators give their messages as they are. Unknown
/// options and commands get the nearest known name as a suggestion.
/// </summary>
internal static class UsageErrors
{
    /// <summary>The one-line error of the command line, or null when it is fine.</summary>
    public static string? Line(ParseResult pr)
    {
        var result = pr.CommandResult;
        var command = result.Command;
        string name = CommandName(command);
        string help = command is RootCommand ? "see magneton --help" : $"see magneton {name} --help";
        var options = result.Children.OfType<OptionResult>().Where(o => o.IdentifierToken is not null).ToList();

        // 1. A token that is no option or command of this command line, then a command tail's token before its --.
        if (command is RootCommand && pr.Tokens.FirstOrDefault(t => t.Type != TokenType.Directive) is { Type: TokenType.Argument } first
            && !first.Value.StartsWith('-'))
            return $"unknown command '{first.Value}'{Suggestion(first.Value, command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))} ({help})";
        foreach (var token in Unknown(pr, result, options))
        {
            bool dash = token.Length > 1 && token[0] == '-';
            if (command is RootCommand)
            {
                var known = dash ? OptionNames(command) : command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name);
                return $"unknown {(dash ? "option" : "command")} '{token}'{Suggestion(token, known)} ({help})";
            }
            if (dash) return $"unknown option '{Name(token)}' for {name}{Suggestion(Name(token), OptionNames(command))} ({help})";
            return command.Arguments.Count == 0
                ? $"unexpected argument '{token}': {name} takes only options ({help})"
                : $"unexpected argument '{token}': {name} takes {Synopsis(command)} ({help})";
        }

        if (command.Arguments.OfType<CommandTail>().FirstOrDefault() is { } tail && pr.GetResult(tail) is { Tokens.Count: > 0 } given)
        {
            int afterDash = pr.Tokens.SkipWhile(t => t.Type != TokenType.DoubleDash).Count(t => t.Type == TokenType.Argument);
            if (given.Tokens.Count > afterDash)
                return $"unexpected argument '{given.Tokens[0].Value}': the command to capture goes after -- ({tail.Example})";
        }

        // 2. A required option missing, an option without its value or given twice.
        foreach (var o in command.Options)
            if (o.Required && pr.GetResult(o)?.IdentifierToken is null)
                return $"{name} needs {o.Name}{(o.HelpName is { } h ? $" <{h}>" : "")} ({help})";
        foreach (var o in options)
        {
            string option = o.IdentifierToken?.Value ?? o.Option.Name;
            if (o.Tokens.Count < o.Option.Arity.MinimumNumberOfValues)
                return $"option {option} needs a value{(o.Option.HelpName is { } h ? $" <{h}>" : "")}";
            if (o.Tokens.Count > o.Option.Arity.MaximumNumberOfValues)
                return o.Option.Arity.MaximumNumberOfValues == 0
                    ? $"option {option} takes no value"
                    : $"option {option} is given more than once";
        }

        // 3. A value its own check refused.
        foreach (var e in pr.Errors)
            if (e.SymbolResult is OptionResult || e.SymbolResult is ArgumentResult { Parent: OptionResult })
                return Program.OneLine(e.Message);

        // 4. A required argument missing.
        foreach (var a in command.Arguments)
            if ((pr.GetResult(a)?.Tokens.Count ?? 0) < a.Arity.MinimumNumberOfValues)
                return a is CommandTail t
                    ? $"{name} needs the command after --: {t.Example} [args]"
                    : $"{name} needs {Synopsis(command)}{Given(result, options)} ({help})";

        // 5. The command's own validators, then anything else.
        if (pr.Errors.Count == 0) return null;
        foreach (var e in pr.Errors)
            if (e.SymbolResult is ArgumentResult) return Program.OneLine(e.Message);
        var other = pr.Errors.FirstOrDefault(e => e.SymbolResult is CommandResult) ?? pr.Errors[0];
        return Program.OneLine(other.Message);
    }

    /// <summary>Unmatched tokens, and option-like tokens taken as positional arguments (before any --).</summary>
    static IEnumerable<string> Unknown(ParseResult pr, CommandResult result, List<OptionResult> options)
    {
        var values = new HashSet<Token>(options.SelectMany(o => o.Tokens), ReferenceEqualityComparer.Instance);
        foreach (var t in pr.Tokens)
        {
            if (t.Type == TokenType.DoubleDash) break;
            if (t.Type == TokenType.Argument && t.Value.Length > 1 && t.Value[0] == '-' && !values.Contains(t)
                && !IsNumber(t.Value))
                yield return t.Value;
        }
        foreach (var t in pr.UnmatchedTokens) yield return t;
    }

    static bool IsNumber(string s) => double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _);

    /// <summary>What the positional arguments got, and values options took before them (as --json A B does).</summary>
    static string Given(CommandResult result, List<OptionResult> options)
    {
        var positional = result.Children.OfType<ArgumentResult>().SelectMany(a => a.Tokens).ToList();
        string got = positional.Count == 0 ? "got none" : $"got {string.Join(' ', positional.Select(t => $"'{t.Value}'"))}";
        var taken = options.Where(o => o.Tokens.Count > 0 && o.IdentifierToken is not null)
            .Select(o => $"{o.IdentifierToken!.Value} took '{o.Tokens[0].Value}' as its value").ToList();
        return ", " + got + (taken.Count == 0 ? "" : "; " + string.Join("; ", taken));
    }

    static string CommandName(Command command) =>
        command is RootCommand ? "magneton" : string.Join(' ', Lineage(command).Reverse().Select(c => c.Name));

    static IEnumerable<Command> Lineage(Command command)
    {
        for (Command? c = command; c is not null and not RootCommand; c = c.Parents.OfType<Command>().FirstOrDefault())
            yield return c;
    }

    /// <summary>"&lt;bundleA&gt; &lt;bundleB&gt;", "&lt;bundle&gt;...", from the command's arguments.</summary>
    internal static string Synopsis(Command command) =>
        string.Join(' ', command.Arguments.Where(a => !a.Hidden).Select(a =>
            (a.Arity.MinimumNumberOfValues == 0 ? "[" : "") + $"<{a.HelpName ?? a.Name}>"
            + (a.Arity.MaximumNumberOfValues > 1 ? "..." : "") + (a.Arity.MinimumNumberOfValues == 0 ? "]" : "")));

    static string Name(string token) => token.StartsWith("--", StringComparison.Ordinal) && token.IndexOf('=') is > 2 and var eq ? token[..eq] : token;

    static IEnumerable<string> OptionNames(Command command)
    {
        foreach (var c in command.Parents.OfType<Command>().Prepend(command))
            foreach (var o in c.Options)
                if (!o.Hidden && (c == command || o.Recursive))
                    foreach (var n in o.Aliases.Prepend(o.Name))
                        yield return n;
    }

    /// <summary>"; did you mean '--threshold'?" for the nearest known name, or nothing when none is near.</summary>
    internal static string Suggestion(string token, IEnumerable<string> known)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var k in known.Distinct())
        {
            int d = Distance(token, k);
            if (d < bestDistance) (best, bestDistance) = (k, d);
        }
        bool prefix = best is not null && token.Length >= 4 && best.StartsWith(token, StringComparison.Ordinal);
        return best is not null && (prefix || bestDistance <= Math.Max(1, token.TrimStart('-').Length / 3))
            ? $"; did you mean '{best}'?"
            : "";
    }

    /// <summary>Levenshtein distance with adjacent transpositions counted as one edit.</summary>
    static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }
}
