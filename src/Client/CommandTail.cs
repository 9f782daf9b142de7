using System.CommandLine;

namespace Magneton.Client;

/// <summary>
/// The <c>-- &lt;python command...&gt;</c> that ends capture and submit: every token after <c>--</c>, passed on
/// untouched (its options are the script's, not Magneton's). A token before the <c>--</c> is refused by
/// <see cref="UsageErrors"/>, with <see cref="Example"/> as the reminder.
/// </summary>
internal sealed class CommandTail : Argument<string[]>
{
    public CommandTail(string example) : base("command")
    {
        Example = example;
        HelpName = "-- python command";
        Description = "the command to run under the probe: python script.py [args], script.py [args] or -m module [args]";
        Arity = ArgumentArity.OneOrMore;
    }

    /// <summary>The command line shape, e.g. "magneton capture --system NAME --out DIR -- python script.py".</summary>
    public string Example { get; }
}
