using System.Diagnostics;
using System.Text.RegularExpressions;
using Magneton.Silo;
using Magneton.Tests.Grains;
using Xunit;
using Xunit.Abstractions;

namespace Magneton.Tests.K8s;

/// <summary>
/// The container image and the .NET tool, as far as they can be checked without a container engine: the
/// Dockerfile against what the manifests expect (user, PATH, read-only root, ports), the publish step it
/// documents (its output is what the Dockerfile copies, and runs), and the tool package installed into a
/// temporary tool path.
/// </summary>
public sealed partial class ImageTests(ITestOutputHelper output)
{
    static string Dockerfile => Path.Combine(TestRepo.Root, "k8s", "image", "Dockerfile");

    /// <summary>The Dockerfile's instructions (comments and continuations folded), e.g. ("COPY", "--chmod=0755 a b").</summary>
    static List<(string Op, string Args)> Instructions()
    {
        var list = new List<(string, string)>();
        string pending = "";
        foreach (var raw in File.ReadAllLines(Dockerfile))
        {
            var line = raw.Trim();
            if (pending.Length == 0 && (line.Length == 0 || line.StartsWith('#'))) continue;
            if (line.EndsWith('\\')) { pending += line[..^1] + " "; continue; }
            line = pending + line;
            pending = "";
            int space = line.IndexOf(' ');
            list.Add((line[..space].ToUpperInvariant(), line[(space + 1)..].Trim()));
        }
        return list;
    }

    [GeneratedRegex(@"^#\s+(scripts/gpu-publish\.sh \S+)$", RegexOptions.Multiline)]
    private static partial Regex PublishStep();

    /// <summary>COPY sources (relative to the build context, the repository root) and destinations.</summary>
    static List<(string Source, string Destination)> Copies() =>
        Instructions().Where(i => i.Op == "COPY")
            .Select(i => i.Args.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(a => !a.StartsWith("--", StringComparison.Ordinal)).ToArray())
            .Select(a => (a[0], a[1])).ToList();

    static Dictionary<string, string> Env()
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (_, args) in Instructions().Where(i => i.Op == "ENV"))
            foreach (Match m in Regex.Matches(args, @"(\w+)=(\S+)"))
                env[m.Groups[1].Value] = m.Groups[2].Value;
        return env;
    }

    [Theory]
    [MemberData(nameof(ManifestContractTests.Overlays), MemberType = typeof(ManifestContractTests))]
    public void The_image_runs_as_the_manifests_user_with_magneton_on_the_path_and_writes_only_to_tmp(string overlay)
    {
        var ins = Instructions();
        var user = Assert.Single(ins, i => i.Op == "USER").Args.Split(':');
        Assert.True(long.TryParse(user[0], out long uid) && uid != 0, $"USER {string.Join(':', user)} is not a numeric non-root uid");
        long gid = long.Parse(user[1]);

        var r = RenderedOverlay.Get(overlay);
        var env = Env();
        foreach (var (owner, pod, _) in r.PodSpecs())
        {
            foreach (var c in pod.Containers.Where(c => c.Command?.FirstOrDefault() == "magneton"))
            {
                Assert.Equal(uid, c.SecurityContext?.RunAsUser ?? pod.SecurityContext?.RunAsUser);
                Assert.Equal(gid, c.SecurityContext?.RunAsGroup ?? pod.SecurityContext?.RunAsGroup);
                // `command: ["magneton"]` resolves on the image's PATH.
                Assert.Contains(Copies(), cp => cp.Destination == "/usr/local/bin/magneton");
                // Read-only root: the image's writable places are the pod's /tmp emptyDir.
                Assert.True(c.SecurityContext?.ReadOnlyRootFilesystem, $"{owner}/{c.Name}");
                var tmp = Assert.Single(c.VolumeMounts, m => m.MountPath == "/tmp");
                Assert.NotNull(pod.Volumes.Single(v => v.Name == tmp.Name).EmptyDir);
                foreach (var name in new[] { "DOTNET_BUNDLE_EXTRACT_BASE_DIR", "HOME" })
                {
                    Assert.Equal("/tmp", env[name]);
                    Assert.Equal(env[name], r.EnvValue(c, name));
                }
            }
        }
        Assert.Equal("/tmp", Assert.Single(ins, i => i.Op == "WORKDIR").Args);
        Assert.Equal($"{SiloHostOptions.DefaultSiloPort} {SiloHostOptions.DefaultGatewayPort}", Assert.Single(ins, i => i.Op == "EXPOSE").Args);
    }

    [PackagingFact]
    public async Task The_documented_publish_step_makes_every_COPY_source_and_the_published_file_runs()
    {
        var step = PublishStep().Match(File.ReadAllText(Dockerfile));
        Assert.True(step.Success, "the Dockerfile documents no `scripts/gpu-publish.sh <dir>` step");
        var parts = step.Groups[1].Value.Split(' ');

        // The build context is the repository root; a scratch copy of its layout keeps the clone clean.
        using var context = new Traces.TempDir();
        var r = await RunAsync("bash", [Path.Combine(TestRepo.Root, parts[0]), Path.Combine(context.Path, parts[1])], TestRepo.Root);
        Assert.True(r.Code == 0, $"{step.Value} exited {r.Code}:\n{r.Err}");
        foreach (var (source, _) in Copies())
            Assert.True(File.Exists(Path.Combine(context.Path, source)), $"COPY {source}: not made by {step.Value}");

        var magneton = Path.Combine(context.Path, Copies().Single(c => c.Destination == "/usr/local/bin/magneton").Source);
        var version = await RunAsync(magneton, ["--version"], context.Path, new() { ["DOTNET_BUNDLE_EXTRACT_BASE_DIR"] = context.Path, ["HOME"] = context.Path });
        Assert.True(version.Code == 0, version.Err);
        Assert.Equal($"magneton {Magneton.Client.Program.Version}", version.Out.Trim());
    }

    [PackagingFact]
    public async Task The_tool_package_installs_into_a_tool_path_and_runs()
    {
        using var dir = new Traces.TempDir();
        var packages = Path.Combine(dir.Path, "packages");
        var pack = await RunAsync("dotnet", ["pack", Path.Combine(TestRepo.Root, "src", "Client"), "-c", "Release", "-o", packages, "--nologo"], TestRepo.Root);
        Assert.True(pack.Code == 0, $"dotnet pack exited {pack.Code}:\n{pack.Out}\n{pack.Err}");
        Assert.Single(Directory.GetFiles(packages, "Magneton.*.nupkg"));

        // Only the local package source: the test must not depend on (or pick up) a package of that name elsewhere.
        var config = dir.Write("nuget.config", $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration><packageSources><clear /><add key="local" value="{packages}" /></packageSources></configuration>
            """);
        var tools = Path.Combine(dir.Path, "tools");
        var install = await RunAsync("dotnet", ["tool", "install", "--tool-path", tools, "--configfile", config, "Magneton"], dir.Path);
        Assert.True(install.Code == 0, $"dotnet tool install exited {install.Code}:\n{install.Out}\n{install.Err}");
        Assert.Contains("magneton", install.Out);

        var version = await RunAsync(Path.Combine(tools, "magneton"), ["--version"], dir.Path);
        Assert.True(version.Code == 0, version.Err);
        Assert.Equal($"magneton {Magneton.Client.Program.Version}", version.Out.Trim());
    }

    sealed record Result(int Code, string Out, string Err);

    /// <summary>A child process to its end; a publish takes minutes on a loaded 2-core machine, so the deadline is generous.</summary>
    async Task<Result> RunAsync(string file, IEnumerable<string> args, string workingDirectory, Dictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(15));
        }
        catch (TimeoutException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', psi.ArgumentList)} did not finish within 15 min");
        }
        var r = new Result(p.ExitCode, await stdout, await stderr);
        output.WriteLine($"$ {file} {string.Join(' ', psi.ArgumentList)} -> {r.Code}\n{r.Out}");
        return r;
    }
}

/// <summary>
/// A fact that publishes or packs the CLI (1-2 min alone, 12 min seen on a loaded 2-core machine, and it needs the
/// linux-x64 runtime pack from the package feed): run where MAGNETON_PACKAGING_TESTS=1, as .ci/run sets it.
/// </summary>
public sealed class PackagingFactAttribute : FactAttribute
{
    public const string Variable = "MAGNETON_PACKAGING_TESTS";

    public PackagingFactAttribute()
    {
        if (Environment.GetEnvironmentVariable(Variable) != "1")
            Skip = $"publishes and packs the CLI (minutes): set {Variable}=1 to run it (.ci/run does)";
    }
}
