using System.Runtime.InteropServices;
using System.Text;

namespace Magneton.Client;

/// <summary>
/// The runtime settings a <c>magneton silo</c> process runs with. The runtime reads them once, at start, and this
/// binary is also the CLI, where they cost what they save in a silo: with no tiering delay a short compare spends its
/// second core JIT-compiling its own start-up code again (the gpt2-gelu pair, 1.8-2.1 s became 2.0-2.6 s). So they are
/// not in the runtimeconfig: the silo command puts the missing ones in its environment and executes itself again
/// (execve: the same process id, arguments and descriptors, before anything else has run). A setting the
/// environment already has is kept as it is; on a system without execve the silo runs with the runtime's defaults.
/// With all set (k8s/base/silo.yaml sets them) nothing is executed again: set them to run a silo under a debugger.
/// </summary>
/// <remarks>
/// Why each (issue 16, docs/PERFORMANCE.md, "the generated pair through a 2-silo localhost cluster"):
/// <list type="bullet">
/// <item><c>TC_CallCountingDelayMs=0</c>: a silo keeps compiling new code paths while it serves (Orleans' timers,
/// placement, health checks), and each new tier-0 method restarts the runtime's 100 ms delay before calls are
/// counted, so a fresh silo's first large comparison ran the readers' hot loops at tier 0 for seconds (100k operators
/// a side: ingest 5.1-5.7 s against 2.6-3.0 s).</item>
/// <item><c>GCConserveMemory=7</c>: the GC compacts a fragmented older generation rather than growing the heap; a
/// 1M-operator comparison's silo peaked at 3.2-3.6 GiB with it, 3.9-4.1 GiB without.</item>
/// <item><c>TieredPGO=0</c>: with calls counted at once, profile-guided tiering compiles each hot method twice
/// (instrumented, then optimized) during the job itself, on the cores the job runs on: a 100k job's match step took
/// 0.94-1.0 s with it, 0.47-0.61 s without, detect and report 20-30% less. The CLI keeps it: there a 1M-operator
/// compare reads its traces for half a minute and gains from it (48 s against 53 s).</item>
/// </list>
/// </remarks>
public static class SiloRuntimeSettings
{
    /// <summary>The settings, as the environment variables the runtime reads.</summary>
    public static readonly IReadOnlyList<(string Name, string Value)> Settings =
    [
        ("DOTNET_TC_CallCountingDelayMs", "0"),
        ("DOTNET_GCConserveMemory", "7"),
        ("DOTNET_TieredPGO", "0"),
    ];

    /// <summary>
    /// For <c>magneton silo</c> whose environment lacks a setting: sets it and executes the process again, not
    /// returning. Otherwise (another command, every setting present, not Linux, execve refused) returns at once.
    /// </summary>
    public static void ApplyToSilo(string[] args)
    {
        if (args is not ["silo", ..] || !OperatingSystem.IsLinux()) return;
        var missing = Settings.Where(s => !IsSet(s.Name)).ToList();
        if (missing.Count == 0) return;
        // The process's own argv (the apphost's or `dotnet magneton.dll`'s), which Main's args do not hold.
        var argv = File.ReadAllText("/proc/self/cmdline").Split('\0', StringSplitOptions.None);
        if (argv.Length > 0 && argv[^1].Length == 0) argv = argv[..^1];
        foreach (var (name, value) in missing) Environment.SetEnvironmentVariable(name, value);
        var environment = Environment.GetEnvironmentVariables();
        var envp = new string[environment.Count];
        int i = 0;
        foreach (System.Collections.DictionaryEntry e in environment) envp[i++] = $"{e.Key}={e.Value}";
        Console.Out.Flush();
        Console.Error.Flush();
        int errno = Execute("/proc/self/exe", argv, envp);
        // Only reached when execve failed: the settings are in this process's environment but not in its runtime.
        foreach (var (name, _) in missing) Environment.SetEnvironmentVariable(name, null);
        Console.Error.WriteLine($"magneton silo: could not execute itself again with {string.Join(" ", missing.Select(m => $"{m.Name}={m.Value}"))} "
            + $"(errno {errno}); running with the runtime's defaults (set them in the environment)");
    }

    /// <summary>The runtime reads DOTNET_X, and COMPlus_X as the older spelling.</summary>
    static bool IsSet(string name) =>
        Environment.GetEnvironmentVariable(name) is not null
        || Environment.GetEnvironmentVariable("COMPlus_" + name["DOTNET_".Length..]) is not null;

    /// <summary>execve; returns only when it failed, with errno.</summary>
    static int Execute(string path, string[] argv, string[] envp)
    {
        var strings = new List<IntPtr>();
        try
        {
            IntPtr[] Block(string[] values)
            {
                var block = new IntPtr[values.Length + 1];
                for (int k = 0; k < values.Length; k++)
                {
                    block[k] = Marshal.StringToCoTaskMemUTF8(values[k]);
                    strings.Add(block[k]);
                }
                return block; // NULL-terminated, as execve wants
            }
            execve(Encoding.UTF8.GetBytes(path + "\0"), Block(argv), Block(envp));
            return Marshal.GetLastPInvokeError();
        }
        finally
        {
            foreach (var s in strings) Marshal.FreeCoTaskMem(s);
        }
    }

    [DllImport("libc", SetLastError = true)]
    static extern int execve(byte[] path, IntPtr[] argv, IntPtr[] envp);
}
