using System.Diagnostics;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Magneton.Core;
using Magneton.Core.Scaling;

namespace Magneton.Client;

/// <summary>
/// <c>magneton bench --operators N [--json out]</c>: scales a real sample pair to about N operators per side (with
/// planted differences), writes the bundles to a temporary directory, and measures trace ingest, matching, the whole
/// comparison and peak memory, next to python3's json.load of the same uncompressed trace. With <c>--cluster</c> the
/// comparison runs through a running cluster instead (<see cref="ClusterBench"/>), and peak_mb is the largest silo's.
/// </summary>
public static class BenchCommand
{
    internal static Command Definition(TextWriter stdout, TextWriter stderr)
    {
        var operators = CliOptions.Value("--operators", "N", "operators per side, e.g. 100000, 100k or 1m", v =>
            TryCount(v, out int n) && n >= 1 ? n : throw new UsageException($"--operators: '{v}' is not a positive count (e.g. 100000 or 100k or 1m)"));
        operators.Required = true;
        var json = CliOptions.Text("--json", "file|-", "also write the result to a file ('-': stdout only)");
        var pair = CliOptions.Text("--pair", "name", "the sample pair to scale (default llama-generate-null)");
        var samples = CliOptions.Text("--samples", "dir", "the samples directory (default: the repository's samples/)");
        var mode = CliOptions.Value("--mode", "auto|decode|job", "what is repeated: decode steps, the whole job, or whichever fits (default auto)", v => v switch
        {
            "auto" => ScalingMode.Auto,
            "decode" => ScalingMode.DecodeSteps,
            "job" => ScalingMode.Job,
            _ => throw new UsageException($"--mode: '{v}' is not auto, decode or job"),
        });
        mode.DefaultValueFactory = _ => ScalingMode.Auto;
        mode.CompletionSources.Clear(); // not the enum's own names: the values as typed
        mode.CompletionSources.Add("auto", "decode", "job");
        var plantEvery = CliOptions.Value("--plant-every", "k", "plant a difference in every k-th added step (default 4)", v =>
            int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out int k) ? k : throw new UsageException($"--plant-every: '{v}' is not a count"));
        plantEvery.DefaultValueFactory = _ => 4;
        var plantAt = CliOptions.Value<List<int>?>("--plant-at", "i,j,...", "plant at these occurrences instead", v =>
            [.. v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(part =>
                int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var at) ? at : throw new UsageException($"--plant-at: '{part}' is not an occurrence index"))]);
        var plant = CliOptions.Value("--plant", "kernel|chain",
            "what is planted: side A's SiLU runs the unvectorized kernel, 5x slower (kernel), or an eager fp32 chain (chain)", v => v switch
            {
                "kernel" => PlantKind.Kernel,
                "chain" => PlantKind.Chain,
                _ => throw new UsageException($"--plant: '{v}' is not kernel or chain"),
            });
        plant.DefaultValueFactory = _ => PlantKind.Kernel;
        plant.CompletionSources.Clear();
        plant.CompletionSources.Add("kernel", "chain");
        var outDir = CliOptions.Text("--out-dir", "dir", "write the bundles here (kept) instead of a temporary directory");
        var keep = CliOptions.Flag("--keep", "keep the temporary directory");
        var reuse = CliOptions.Flag("--reuse", "measure the pair already in --out-dir again");
        var noPython = CliOptions.Flag("--no-python", "skip python3's json.load of the same trace");
        var pythonMax = CliOptions.Value("--python-max-mb", "mb", "largest trace python3 loads (default 1000)", v =>
            double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double mb) ? mb : throw new UsageException($"--python-max-mb: '{v}' is not a number"));
        pythonMax.DefaultValueFactory = _ => 1000;
        var cluster = new ClusterOptionSet(required: false,
            "compare the pair through this running cluster, host:port[,host:port] (its silos need --allow-path for the bundles' directory, or give --upload)");
        var upload = CliOptions.Flag("--upload", "with --cluster: upload both bundles to the cluster's store first (timed apart, upload_ms)");
        var command = new Command("bench",
            "Builds two bundles of about N operators per side by repeating a real sample pair (its last decode step, with fresh "
            + "values, shifted trace events and a consistent energy pass, with planted differences), and prints {\"operators\", "
            + "\"ingest_mb_s\", \"ingest_events_s\", \"match_ms\", \"compare_ms\", \"peak_mb\", ...}: ingest_mb_s is uncompressed "
            + "trace JSON through the trace reader on one core, match_ms value equivalence + segment matching + region assembly + "
            + "detection, compare_ms the whole comparison from the two directories, peak_mb the peak resident memory of the measured "
            + "work; and python3's json.load of the same uncompressed trace (MB/s) with the ratio.")
        {
            operators, json, pair, samples, mode, plantEvery, plantAt, plant, outDir, keep, reuse, noPython, pythonMax, upload,
        };
        cluster.AddTo(command);
        command.SetAction((pr, ct) =>
        {
            var target = cluster.Read(pr);
            if (pr.GetValue(upload) && target is null) throw new UsageException("--upload: needs --cluster");
            return RunAsync(new Arguments(pr.GetValue(operators), pr.GetValue(json), pr.GetValue(pair) ?? "llama-generate-null",
                pr.GetValue(samples), pr.GetValue(mode), pr.GetValue(plantEvery), pr.GetValue(plantAt), pr.GetValue(plant), pr.GetValue(outDir),
                pr.GetValue(keep), pr.GetValue(reuse), !pr.GetValue(noPython), pr.GetValue(pythonMax)) { Cluster = target, Upload = pr.GetValue(upload) },
                stdout, stderr, ct);
        });
        return command;
    }

    internal sealed record Arguments(int Operators, string? Json, string Pair, string? Samples, ScalingMode Mode, int PlantEvery,
        List<int>? PlantAt, PlantKind PlantKind, string? OutDir, bool Keep, bool Reuse, bool Python, double PythonMax)
    {
        /// <summary>Compare through this cluster instead of in this process.</summary>
        public ClusterTarget? Cluster { get; init; }
        public bool Upload { get; init; }
    }

    internal static async Task<int> RunAsync(Arguments a, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var (json, pair, samples, outDir, keep, pythonMax) = (a.Json, a.Pair, a.Samples, a.OutDir, a.Keep, a.PythonMax);
        string root = samples ?? FindSamples() ?? throw new UsageException("bench: samples/ not found; give --samples <dir>");
        string pairDir = Path.Combine(root, pair);
        if (!Directory.Exists(pairDir)) throw new UsageException($"bench: no sample pair '{pair}' in {root}");
        var sides = Directory.GetDirectories(pairDir).OrderBy(d => d, StringComparer.Ordinal).ToArray();
        string srcA = sides.Single(d => Path.GetFileName(d).StartsWith("A-", StringComparison.Ordinal));
        string srcB = sides.Single(d => Path.GetFileName(d).StartsWith("B-", StringComparison.Ordinal));

        bool temporary = outDir is null;
        string dir = outDir ?? Path.Combine(Path.GetTempPath(), $"magneton-bench-{Environment.ProcessId}");
        var log = stderr;
        try
        {
            var sw = Stopwatch.StartNew();
            var scaled = await ScaleOrReuseAsync(a, srcA, srcB, dir, ct).ConfigureAwait(false);
            double generateMs = sw.Elapsed.TotalMilliseconds;
            await log.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"magneton bench: {pair} x{scaled.Copies} ({scaled.Mode}): {scaled.A.Operators} / {scaled.B.Operators} operators, " +
                $"{scaled.Plants.Count} planted, trace {scaled.A.TraceUncompressedBytes / 1e6:F1} MB, written in {generateMs / 1000:F1} s to {dir}")).ConfigureAwait(false);

            void Log(string line) => log.WriteLine("magneton bench: " + line);
            ClusterBenchResult? onCluster = null;
            if (a.Cluster is { } target)
            {
                // The whole python3 run first: it must not compete with the cluster for the cores.
                var py = ScalingBenchmark.MeasurePython(scaled, scaled.A.TraceUncompressedBytes / 1e6, pythonMax);
                // The sample pair itself, beside the scaled one: a directory the silos were allowed to read.
                var warmUp = (CopyBundle(srcA, Path.Combine(dir, "warm-up", "A")), CopyBundle(srcB, Path.Combine(dir, "warm-up", "B")));
                onCluster = await ClusterBench.MeasureAsync(target, scaled, generateMs, a.Upload, warmUp, py, Log, ct).ConfigureAwait(false);
            }
            else
            {
                // As the cluster bench warms its silos: the measured comparison runs JIT-compiled code on both sides.
                var warm = Stopwatch.StartNew();
                Pipeline.Compare(srcA, srcB, new Magneton.Core.Matching.CompareOptions());
                Log($"warm-up: the sample pair compared in {warm.Elapsed.TotalSeconds:F1} s");
            }
            var result = onCluster?.Bench ?? ScalingBenchmark.Measure(scaled, generateMs, Log, pythonMax);
            string text = JsonSerializer.Serialize(Document(result, pair, a.Cluster, onCluster), new JsonSerializerOptions { WriteIndented = true });
            if (json is null || json == "-") await stdout.WriteLineAsync(text).ConfigureAwait(false);
            else
            {
                await File.WriteAllTextAsync(json, text + "\n", ct).ConfigureAwait(false);
                await stdout.WriteLineAsync(text).ConfigureAwait(false);
            }
            return Program.Ok;
        }
        finally
        {
            if (temporary && !keep)
            {
                try { Directory.Delete(dir, recursive: true); }
                catch (IOException) { }
            }
        }
    }

    /// <summary>A copy of a bundle directory's files (a bundle has no subdirectories).</summary>
    static string CopyBundle(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: true);
        return to;
    }

    /// <summary>The scaled pair: generated into <paramref name="dir"/>, or read back from its pair.json with --reuse.</summary>
    static async Task<ScaledPair> ScaleOrReuseAsync(Arguments a, string srcA, string srcB, string dir, CancellationToken ct)
    {
        var manifest = Path.Combine(dir, "pair.json");
        if (a.Reuse && File.Exists(manifest))
            return JsonSerializer.Deserialize<ScaledPair>(await File.ReadAllTextAsync(manifest, ct).ConfigureAwait(false))!;
        var scaled = BundleScaler.ScalePair(srcA, srcB, Path.Combine(dir, "A"), Path.Combine(dir, "B"), new ScaleOptions
        {
            TargetOperators = a.Operators,
            Mode = a.Mode,
            PlantEvery = a.PlantEvery,
            // System.CommandLine gives a list option that was not given as an empty list: that means every occurrence.
            PlantOccurrences = a.PlantAt is { Count: > 0 } at ? at : null,
            PlantKind = a.PlantKind,
            WriteUncompressedTraceA = a.Python,
        });
        await File.WriteAllTextAsync(manifest, JsonSerializer.Serialize(scaled), ct).ConfigureAwait(false);
        return scaled;
    }

    /// <summary>The printed result: the embedded bench's fields, and with a cluster its address, each silo's peak and the upload.</summary>
    static Dictionary<string, object?> Document(BenchResult result, string pair, ClusterTarget? cluster, ClusterBenchResult? onCluster)
    {
        var doc = new Dictionary<string, object?>
        {
            ["operators"] = result.Operators,
            ["ingest_mb_s"] = result.IngestMbS,
            ["ingest_events_s"] = result.IngestEventsS,
            ["match_ms"] = result.MatchMs,
            ["compare_ms"] = result.CompareMs,
            ["peak_mb"] = result.PeakMb,
            ["operators_b"] = result.OperatorsB,
            ["pair"] = pair,
            ["mode"] = result.Mode,
            ["copies"] = result.Copies,
            ["trace_mb"] = result.TraceMb,
            ["trace_events"] = result.TraceEvents,
            ["dataflow_mb"] = result.DataflowMb,
            ["bundle_ingest_ms"] = result.BundleIngestMs,
            ["phases_ms"] = result.Phases,
            ["regions"] = result.Regions,
            ["findings"] = result.Findings,
            ["planted"] = result.Planted,
            ["planted_isolated"] = result.PlantedIsolated,
            ["planted_reported"] = result.PlantedReported,
            ["false_findings"] = result.FalseFindings,
            ["python_json_load_mb_s"] = result.PythonJsonLoadMbS,
            ["ingest_vs_python"] = result.IngestVsPython,
            ["python_note"] = result.PythonNote,
            ["generate_ms"] = result.GenerateMs,
            ["cores"] = Environment.ProcessorCount,
        };
        if (onCluster is not null)
        {
            doc["cluster"] = cluster!.Address;
            doc["silos"] = onCluster.Silos.Select(m => new Dictionary<string, object> { ["silo"] = m.Silo, ["peak_mb"] = Math.Round(m.PeakMb, 1) }).ToList();
            doc["upload_ms"] = onCluster.UploadMs is double u ? Math.Round(u, 1) : null;
        }
        return doc;
    }

    static bool TryCount(string s, out int value)
    {
        value = 0;
        double mult = 1;
        var t = s.Trim().ToLowerInvariant();
        if (t.EndsWith('k')) { mult = 1e3; t = t[..^1]; }
        else if (t.EndsWith('m')) { mult = 1e6; t = t[..^1]; }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || d * mult > int.MaxValue) return false;
        value = (int)Math.Round(d * mult);
        return true;
    }

    static string? FindSamples()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Magneton.sln")) && Directory.Exists(Path.Combine(d.FullName, "samples")))
                    return Path.Combine(d.FullName, "samples");
        return null;
    }
}
