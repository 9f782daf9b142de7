using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Magneton.Core.Scaling;

namespace Magneton.Client;

/// <summary>
/// <c>magneton bench --operators N [--json out]</c>: scales a real sample pair to about N operators per side (with
/// planted differences), writes the bundles to a temporary directory, and measures trace ingest, matching, the whole
/// comparison and peak memory, next to python3's json.load of the same uncompressed trace.
/// </summary>
public static class BenchCommand
{
    const string Help = """
        magneton bench --operators <N> [--json <file|->] [--pair <name>] [--samples <dir>] [--mode auto|decode|job]
                       [--plant-every <k>] [--plant-at <i,j,...>] [--plant kernel|chain]
                       [--out-dir <dir>] [--keep] [--reuse] [--no-python] [--python-max-mb <mb, default 1000>]

        Builds two bundles of about N operators per side by repeating a real sample pair (default
        llama-generate-null: its last decode step, with fresh values, shifted trace events and a consistent energy
        pass; in every k-th added step (default 4) side A's SiLU runs the unvectorized kernel, 5x slower, or with
        --plant chain an eager fp32 chain), writes them under a
        temporary directory (removed afterwards unless --keep or --out-dir; --reuse measures the pair already in
        --out-dir again), and prints
        {"operators", "ingest_mb_s", "ingest_events_s", "match_ms", "compare_ms", "peak_mb", ...}:
          ingest_mb_s     uncompressed trace JSON through the trace reader (gunzip, scan, reduce), one core
          match_ms        value equivalence + segment matching + region assembly + detection
          compare_ms      the whole comparison from the two directories (ingest, match, detect, diagnose, report)
          peak_mb         peak resident memory of the measured work (MiB)
        and python3's json.load of the same uncompressed trace (MB/s) with the ratio.

        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        int operators = 0, plantEvery = 4;
        List<int>? plantAt = null;
        string? json = null, samples = null, outDir = null;
        string pair = "llama-generate-null";
        var mode = ScalingMode.Auto;
        var plantKind = PlantKind.Kernel;
        bool keep = false, python = true, reuse = false;
        double pythonMax = 1000;
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new UsageException($"option {args[i]} needs a value");
            switch (args[i])
            {
                case "-h" or "--help":
                    await stdout.WriteAsync(Help).ConfigureAwait(false);
                    return Program.Ok;
                case "--operators":
                    var n = Next();
                    if (!TryCount(n, out operators) || operators < 1)
                        throw new UsageException($"--operators: '{n}' is not a positive count (e.g. 100000 or 100k or 1m)");
                    break;
                case "--json": json = Next(); break;
                case "--pair": pair = Next(); break;
                case "--samples": samples = Next(); break;
                case "--out-dir": outDir = Next(); break;
                case "--keep": keep = true; break;
                case "--reuse": reuse = true; break;
                case "--no-python": python = false; break;
                case "--python-max-mb":
                    var m = Next();
                    if (!double.TryParse(m, NumberStyles.Float, CultureInfo.InvariantCulture, out pythonMax))
                        throw new UsageException($"--python-max-mb: '{m}' is not a number");
                    break;
                case "--plant-every":
                    var k = Next();
                    if (!int.TryParse(k, NumberStyles.None, CultureInfo.InvariantCulture, out plantEvery))
                        throw new UsageException($"--plant-every: '{k}' is not a count");
                    break;
                case "--plant-at":
                    var list = Next();
                    plantAt = [];
                    foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                        plantAt.Add(int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var at)
                            ? at : throw new UsageException($"--plant-at: '{part}' is not an occurrence index"));
                    break;
                case "--plant":
                    plantKind = Next() switch
                    {
                        "kernel" => PlantKind.Kernel,
                        "chain" => PlantKind.Chain,
                        var x => throw new UsageException($"--plant: '{x}' is not kernel or chain"),
                    };
                    break;
                case "--mode":
                    mode = Next() switch
                    {
                        "auto" => ScalingMode.Auto,
                        "decode" => ScalingMode.DecodeSteps,
                        "job" => ScalingMode.Job,
                        var x => throw new UsageException($"--mode: '{x}' is not auto, decode or job"),
                    };
                    break;
                default:
                    throw new UsageException($"bench: unknown argument '{args[i]}' (see magneton bench --help)");
            }
        }
        if (operators == 0) throw new UsageException("bench: --operators <N> is required (see magneton bench --help)");

        string root = samples ?? FindSamples() ?? throw new UsageException("bench: samples/ not found; give --samples <dir>");
        string pairDir = Path.Combine(root, pair);
        if (!Directory.Exists(pairDir)) throw new UsageException($"bench: no sample pair '{pair}' in {root}");
        var sides = Directory.GetDirectories(pairDir).OrderBy(d => d, StringComparer.Ordinal).ToArray();
        string srcA = sides.Single(d => Path.GetFileName(d).StartsWith("A-", StringComparison.Ordinal));
        string srcB = sides.Single(d => Path.GetFileName(d).StartsWith("B-", StringComparison.Ordinal));

        bool temporary = outDir is null;
        string dir = outDir ?? Path.Combine(Path.GetTempPath(), $"magneton-bench-{Environment.ProcessId}");
        var log = json == "-" ? stderr : stderr;
        try
        {
            var sw = Stopwatch.StartNew();
            var manifest = Path.Combine(dir, "pair.json");
            ScaledPair scaled;
            if (reuse && File.Exists(manifest))
                scaled = JsonSerializer.Deserialize<ScaledPair>(await File.ReadAllTextAsync(manifest, ct).ConfigureAwait(false))!;
            else
            {
                scaled = BundleScaler.ScalePair(srcA, srcB, Path.Combine(dir, "A"), Path.Combine(dir, "B"), new ScaleOptions
                {
                    TargetOperators = operators,
                    Mode = mode,
                    PlantEvery = plantEvery,
                    PlantOccurrences = plantAt,
                    PlantKind = plantKind,
                    WriteUncompressedTraceA = python,
                });
                await File.WriteAllTextAsync(manifest, JsonSerializer.Serialize(scaled), ct).ConfigureAwait(false);
            }
            double generateMs = sw.Elapsed.TotalMilliseconds;
            await log.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"magneton bench: {pair} x{scaled.Copies} ({scaled.Mode}): {scaled.A.Operators} / {scaled.B.Operators} operators, " +
                $"{scaled.Plants.Count} planted, trace {scaled.A.TraceUncompressedBytes / 1e6:F1} MB, written in {generateMs / 1000:F1} s to {dir}")).ConfigureAwait(false);

            var result = ScalingBenchmark.Measure(scaled, generateMs, line => log.WriteLine("magneton bench: " + line), pythonMax);
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
            string text = JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true });
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
