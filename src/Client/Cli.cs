using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace Magneton.Client;

/// <summary>
/// The magneton command line on System.CommandLine: one definition per command, in its own *Command.cs
/// (<c>Definition(stdout, stderr)</c>), holding its arguments and options with their types, defaults, checks and help,
/// and an action that reads them and runs the command.
/// <para>
/// Adding an option is one line in one place: in the command's <c>Definition</c> for an option of that command
/// (<see cref="CliOptions"/> has the value parsers: a parser throws <see cref="UsageException"/> and its message is
/// the one-line error), or in a shared option set for options that several commands take: <see cref="ClusterOptionSet"/>
/// (--cluster; connection options such as TLS or timeouts go there and reach <see cref="ClusterTarget"/>),
/// <see cref="ProbeOptionSet"/> (the probe's options of capture and submit), and <see cref="CliOptions"/>' --threshold,
/// --json, --html, --quiet, --fail-on-waste.
/// </para>
/// <para>
/// Bad command lines are one line on stderr and exit 2 (<see cref="UsageErrors"/>), not System.CommandLine's
/// error list, help and exit 1. <c>magneton --help</c> is the overview (<see cref="Usage"/>); <c>magneton &lt;command&gt;
/// --help</c> lists that command's options; the <c>[suggest]</c> directive gives shell completions. <c>--verbose</c>
/// is the root's, for every command: what the run's hosts log goes to <see cref="CliLogging"/>'s file, not the terminal.
/// </para>
/// </summary>
internal static class Cli
{
    /// <summary>Help wider than this wraps; terminals are usually at least 100 columns.</summary>
    const int HelpWidth = 110;

    public static RootCommand Root(TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("magneton: differential energy debugging of ML systems")
        {
            CompareCommand.Definition(stdout, stderr),
            CampaignCommand.Definition(stdout, stderr),
            AuditCommand.Definition(stdout, stderr),
            ReportHistoryCommand.Audits(stdout),
            ReportHistoryCommand.Campaigns(stdout),
            ExportCommand.Definition(stdout, stderr),
            InspectCommand.Definition(stdout, stderr),
            RunsCommand.Definition(stdout, stderr),
            SiloCommand.Definition(stdout, stderr),
            CaptureCommand.Definition(stdout, stderr),
            GpusCommand.Definition(stdout, stderr),
            PowerCommand.Definition(stdout, stderr),
            WorkerCommand.Definition(stdout, stderr),
            SubmitCommand.Definition(stdout, stderr),
            WorkersCommand.Definition(stdout, stderr),
            BenchCommand.Definition(stdout, stderr),
        };
        root.HelpName = "magneton"; // not the host process's name (dotnet, testhost)
        root.Add(new Option<bool>(VerboseName, "-v")
        {
            Recursive = true,
            Arity = ArgumentArity.Zero,
            Description = "print the log file's path and show errors that Orleans and the hosts log (they always go to the log file)",
        });
        root.Add(HelpCommand(root, stdout));
        var version = new Command("version", "print the version") { Hidden = true };
        version.SetAction(_ => PrintVersion(stdout));
        root.Add(version);
        foreach (var option in root.Options)
        {
            if (option is HelpOption help) help.Action = new HelpChoice(root, stdout);
            else if (option is VersionOption v) v.Action = new PrintVersionAction(stdout);
        }
        return root;
    }

    /// <summary>How command lines are tokenised: no response files (@file is a path like any other).</summary>
    public static ParserConfiguration Parsing => new() { ResponseFileTokenReplacer = null };

    public static async Task<int> InvokeAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var root = Root(stdout, stderr);
        var pr = Parse(root, args);
        var verbose = root.Options.OfType<Option<bool>>().Single(o => o.Name == VerboseName);
        using var logging = new CliLogging(stderr, pr.GetValue(verbose));
        if (logging.Verbose) await stderr.WriteLineAsync($"magneton: log file: {logging.FilePath}").ConfigureAwait(false);
        if (RunsItsAction(pr)) TlsArguments.Apply(pr); // not for --help
        var outer = CliLogging.Current;
        CliLogging.Current = logging;
        try
        {
            return await pr.InvokeAsync(Invocation(stdout, stderr), ct).ConfigureAwait(false);
        }
        finally
        {
            CliLogging.Current = outer;
        }
    }

    const string VerboseName = "--verbose";

    static InvocationConfiguration Invocation(TextWriter stdout, TextWriter stderr) => new()
    {
        Output = stdout,
        Error = stderr,
        EnableDefaultExceptionHandler = false, // Program maps exceptions to exit codes 1 and 2
        ProcessTerminationTimeout = null,      // long-running commands handle their signals (StopSignals)
    };

    /// <summary>Parses <paramref name="args"/> against <paramref name="command"/>; a bad command line throws its one-line <see cref="UsageException"/>.</summary>
    public static ParseResult Parse(Command command, IReadOnlyList<string> args)
    {
        var pr = command.Parse(args, Parsing);
        bool runsTheCommand = pr.Action is ParseErrorAction || RunsItsAction(pr);
        if (runsTheCommand && UsageErrors.Line(pr) is { } line) throw new UsageException(line);
        return pr;
    }

    /// <summary>The command's own action runs (not --help, --version or a directive).</summary>
    static bool RunsItsAction(ParseResult pr) => ReferenceEquals(pr.Action, pr.CommandResult.Command.Action);

    static Command HelpCommand(RootCommand root, TextWriter stdout)
    {
        var topic = new Argument<string?>("command") { Arity = ArgumentArity.ZeroOrOne, Description = "the command to show the options of" };
        var help = new Command("help", "show the usage, or a command's options") { topic };
        help.SetAction(pr =>
        {
            if (pr.GetValue(topic) is not { } name) return PrintUsage(stdout);
            if (!root.Subcommands.Any(c => c.Name == name))
                throw new UsageException($"unknown command '{name}'{UsageErrors.Suggestion(name, root.Subcommands.Where(c => !c.Hidden).Select(c => c.Name))} (see magneton --help)");
            return root.Parse([name, "--help"], Parsing).Invoke(Invocation(stdout, TextWriter.Null));
        });
        return help;
    }

    static int PrintUsage(TextWriter stdout)
    {
        stdout.Write(Usage.Text);
        return Program.Ok;
    }


    static int PrintVersion(TextWriter stdout)
    {
        stdout.WriteLine($"magneton {Program.Version}");
        return Program.Ok;
    }

    /// <summary>--help: the overview for magneton itself, the command's own options for a command.</summary>
    sealed class HelpChoice(RootCommand root, TextWriter stdout) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult) =>
            parseResult.CommandResult.Command == root ? PrintUsage(stdout) : new HelpAction { MaxWidth = HelpWidth }.Invoke(parseResult);
    }

    sealed class PrintVersionAction(TextWriter stdout) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult) => PrintVersion(stdout);
    }
}
