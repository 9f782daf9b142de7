using System.Diagnostics;
using System.Globalization;
using Magneton.Core.Bundles;
using Magneton.Core.Detection;
using Magneton.Core.Matching;
using Magneton.Core.Reporting;
// System.Globalization has a CompareOptions too: here the name means the comparison's knobs.
using CompareOptions = Magneton.Core.Matching.CompareOptions;

namespace Magneton.Core.Scaling;

/// <summary>The measurements of one `magneton bench` run.</summary>
public sealed record BenchResult
{
    public required int Operators { get; init; }
    public required int OperatorsB { get; init; }
    public required string Mode { get; init; }
    public required int Copies { get; init; }
    public required double TraceMb { get; init; }
    public required long TraceEvents { get; init; }
    public required double DataflowMb { get; init; }
    /// <summary>Uncompressed trace JSON through the trace reader (gunzip, scan, reduce), one core, MB/s (1 MB = 1e6 bytes).</summary>
    public required double IngestMbS { get; init; }
    public required double IngestEventsS { get; init; }
    /// <summary>Both bundles read and modelled (dataflow, trace, CSVs, energy model), as the comparison does.</summary>
    public required double BundleIngestMs { get; init; }
    /// <summary>Value equivalence, segment matching, region assembly and detection.</summary>
    public required double MatchMs { get; init; }
    /// <summary>The whole Pipeline.Compare from the two bundle directories: ingest, match, detect, diagnose, report.</summary>
    public required double CompareMs { get; init; }
    public required double PeakMb { get; init; }
    public required double GenerateMs { get; init; }
    public required int Regions { get; init; }
    public required int Findings { get; init; }
    public required int Planted { get; init; }
    /// <summary>Plants inside the regions of findings that blame side A.</summary>
    public required int PlantedReported { get; init; }
    /// <summary>Plants the matcher isolated as their own region (operator against operator).</summary>
    public required int PlantedIsolated { get; init; }
    /// <summary>Findings with no plant in them.</summary>
    public required int FalseFindings { get; init; }
    public double? PythonJsonLoadMbS { get; init; }
    public double? IngestVsPython { get; init; }
    public string? PythonNote { get; init; }
    public IReadOnlyDictionary<string, double> Phases { get; init; } = new Dictionary<string, double>();
}

public sealed record PlantCheck(int Planted, int Reported, int Isolated, int FalseFindings);

/// <summary>The trace reader's time on side A's trace and the trace's uncompressed size (1 MB = 1e6 bytes).</summary>
public sealed record TraceReadMeasure(double Ms, double Mb);

/// <summary>The comparison's times (ms) and peak resident memory (MiB), with its phases where they were timed.</summary>
public sealed record ComparisonMeasure(double BundleIngestMs, double MatchMs, double CompareMs, double PeakMb,
    IReadOnlyDictionary<string, double> Phases);

public sealed record ComparisonOutcome(int Regions, int Findings, PlantCheck Plants);

/// <summary>python3's json.load speed (MB/s), or why it was not measured.</summary>
public sealed record PythonMeasure(double? MbS, string? Note);

/// <summary>Runs the measurements of `magneton bench` on a generated pair.</summary>
public static class ScalingBenchmark
{
    public static BenchResult Measure(ScaledPair pair, double generateMs, Action<string>? log = null, double pythonMaxMb = 4096,
        string python = "python3", int warmRepeats = 3)
    {
        log ??= _ => { };
        ResetPeak();

        // The comparison, step by step exactly as Pipeline.Compare runs it.
        var phases = new Dictionary<string, double>();
        GC.Collect();
        var sw = Stopwatch.StartNew();
        var (runA, runB) = Pipeline.IngestPair(pair.A.Directory, pair.B.Directory);
        phases["ingest"] = sw.Elapsed.TotalMilliseconds;
        var resident = new Dictionary<string, double> { ["after ingest"] = ResidentMb(), ["peak after ingest"] = PeakMb() };
        log($"ingest: {phases["ingest"]:F0} ms");
        var options = new CompareOptions();

        var t = Stopwatch.StartNew();
        var session = Pipeline.Prepare(runA, runB, options);
        phases["prepare"] = t.Elapsed.TotalMilliseconds;
        resident["after prepare"] = ResidentMb();
        t.Restart();
        var regions = session.Segments.SelectMany(s => Pipeline.MatchSegment(session, s)).ToList();
        phases["match_segments"] = t.Elapsed.TotalMilliseconds;
        resident["after match"] = ResidentMb();
        t.Restart();
        regions = RegionMatch.Assemble(session, regions);
        phases["assemble"] = t.Elapsed.TotalMilliseconds;
        t.Restart();
        var findings = Pipeline.Detect(session, regions);
        phases["detect"] = t.Elapsed.TotalMilliseconds;
        double matchMs = phases["prepare"] + phases["match_segments"] + phases["assemble"] + phases["detect"];
        t.Restart();
        var causes = findings.Select(f => Pipeline.Diagnose(session, regions, f)).ToList();
        phases["diagnose"] = t.Elapsed.TotalMilliseconds;
        t.Restart();
        var report = Pipeline.Report(session, regions, findings, causes, matchMs);
        phases["report"] = t.Elapsed.TotalMilliseconds;
        resident["after report"] = ResidentMb();
        resident["managed heap"] = GC.GetTotalMemory(false) / (1024.0 * 1024.0);
        double compareMs = sw.Elapsed.TotalMilliseconds;
        log("phases: " + string.Join(", ", phases.Select(p => $"{p.Key} {p.Value:F0} ms")));
        log("resident: " + string.Join(", ", resident.Select(p => $"{p.Key} {p.Value:F0} MiB")));

        if (pair.A.Operators < 50_000)
        {
            // Warm matching: the figure a long-running silo sees.
            for (int i = 0; i < warmRepeats; i++)
            {
                t.Restart();
                var s2 = Pipeline.Prepare(runA, runB, options);
                var r2 = RegionMatch.Assemble(s2, s2.Segments.SelectMany(s => Pipeline.MatchSegment(s2, s)).ToList());
                Pipeline.Detect(s2, r2);
                matchMs = Math.Min(matchMs, t.Elapsed.TotalMilliseconds);
            }
        }
        var comparison = new ComparisonMeasure(phases["ingest"], matchMs, compareMs, PeakMb(), phases);
        var outcome = Outcome(pair, report);
        report = null;
        session = null;
        runA = null!;
        runB = null!;
        GC.Collect();
        // After the comparison, as the cluster bench reads it in its client: the comparison's code is then as warm in
        // this process as in a silo (the sample pair compared once), not warmed by a full read of the trace first.
        var trace = MeasureTraceReader(pair, log, warmRepeats);
        return Result(pair, generateMs, trace, comparison, outcome, MeasurePython(pair, trace.Mb, pythonMaxMb, python));
    }

    /// <summary>The trace reader alone on one core: side A's trace, best of a few reads when it is small (JIT).</summary>
    public static TraceReadMeasure MeasureTraceReader(ScaledPair pair, Action<string> log, int warmRepeats = 3)
    {
        var kinetoA = Path.Combine(pair.A.Directory, BundleFiles.Kineto);
        var sw = Stopwatch.StartNew();
        var summary = KinetoReader.Read(kinetoA);
        double traceMs = sw.Elapsed.TotalMilliseconds;
        if (pair.A.Operators < 50_000)
        {
            for (int i = 0; i < warmRepeats; i++)
            {
                sw.Restart();
                KinetoReader.Read(kinetoA);
                traceMs = Math.Min(traceMs, sw.Elapsed.TotalMilliseconds);
            }
        }
        double traceMb = pair.A.TraceUncompressedBytes / 1e6;
        log($"trace reader: {traceMb:F1} MB, {summary.EventCount} events in {traceMs:F0} ms");
        return new TraceReadMeasure(traceMs, traceMb);
    }

    /// <summary>python3's json.load of the same uncompressed trace, where it was written and is not too large.</summary>
    public static PythonMeasure MeasurePython(ScaledPair pair, double traceMb, double pythonMaxMb, string python = "python3")
    {
        if (pair.A.UncompressedTracePath is not { } plain) return new PythonMeasure(null, null);
        if (traceMb > pythonMaxMb)
            return new PythonMeasure(null, $"python3 json.load skipped: trace of {traceMb:F0} MB is over --python-max-mb {pythonMaxMb:F0}");
        var seconds = PythonJsonLoad(python, plain, out var note);
        return new PythonMeasure(seconds is double s && s > 0 ? traceMb / s : null, note);
    }

    /// <summary>What the report says about the pair: region and finding counts, and how the plants came out.</summary>
    public static ComparisonOutcome Outcome(ScaledPair pair, ComparisonReport report) =>
        new(report.Regions.Count, report.Findings.Count, CheckPlants(pair, report));

    /// <summary>The measurements as `magneton bench` prints them, however the comparison ran (in this process or on a cluster).</summary>
    public static BenchResult Result(ScaledPair pair, double generateMs, TraceReadMeasure trace, ComparisonMeasure comparison,
        ComparisonOutcome outcome, PythonMeasure python)
    {
        double ingestMbS = trace.Mb / (trace.Ms / 1000);
        return new BenchResult
        {
            Operators = pair.A.Operators,
            OperatorsB = pair.B.Operators,
            Mode = pair.Mode.ToString(),
            Copies = pair.Copies,
            TraceMb = Math.Round(trace.Mb, 1),
            TraceEvents = pair.A.TraceEvents,
            DataflowMb = Math.Round(pair.A.DataflowBytes / 1e6, 1),
            IngestMbS = Math.Round(ingestMbS, 1),
            IngestEventsS = Math.Round(pair.A.TraceEvents / (trace.Ms / 1000)),
            BundleIngestMs = Math.Round(comparison.BundleIngestMs, 1),
            MatchMs = Math.Round(comparison.MatchMs, 1),
            CompareMs = Math.Round(comparison.CompareMs, 1),
            PeakMb = Math.Round(comparison.PeakMb, 1),
            GenerateMs = Math.Round(generateMs, 1),
            Regions = outcome.Regions,
            Findings = outcome.Findings,
            Planted = outcome.Plants.Planted,
            PlantedReported = outcome.Plants.Reported,
            PlantedIsolated = outcome.Plants.Isolated,
            FalseFindings = outcome.Plants.FalseFindings,
            PythonJsonLoadMbS = python.MbS is double p ? Math.Round(p, 1) : null,
            IngestVsPython = python.MbS is double q ? Math.Round(ingestMbS / q, 2) : null,
            PythonNote = python.Note,
            Phases = comparison.Phases.ToDictionary(x => x.Key, x => Math.Round(x.Value, 1)),
        };
    }

    /// <summary>
    /// How the planted differences came out: how many plants lie in the regions of findings that blame side A, and how
    /// many findings have no plant in them (false findings). A plant that the matcher leaves inside a larger region
    /// (one whose shape occurs once) is below the job-share floor on its own and is not reported.
    /// </summary>
    public static PlantCheck CheckPlants(ScaledPair pair, ComparisonReport report)
    {
        var expected = pair.Plants.Select(p => p.NodeIdA).ToHashSet();
        var regions = report.Regions.ToDictionary(r => r.Id);
        int reported = 0, falseFindings = 0, instances = 0;
        foreach (var f in report.Findings)
        {
            int inThis = f.Regions.Sum(id => regions[id].A.Nodes.Count(expected.Contains));
            bool onlyPlants = f.Wasteful == Side.A && f.Regions.All(id => regions[id].A.Nodes.Count(expected.Contains) == 1);
            if (inThis == 0 || !onlyPlants) falseFindings++;
            else
            {
                reported += inThis;
                instances += f.Instances;
            }
        }
        var isolated = report.Regions.Count(r => r.A.Nodes.Count(expected.Contains) == 1 && r.A.Ops.Count <= 4 && r.B.Ops.Count == 1);
        return new PlantCheck(pair.Plants.Count, reported, isolated, falseFindings);
    }

    static double? PythonJsonLoad(string python, string path, out string? note)
    {
        note = null;
        try
        {
            var psi = new ProcessStartInfo(python)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("import json,sys,time\nf=open(sys.argv[1],'rb')\nt=time.perf_counter()\njson.load(f)\nprint(time.perf_counter()-t)");
            psi.ArgumentList.Add(path);
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            string error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0)
            {
                note = $"python3 json.load failed (exit {p.ExitCode}): {error.Trim().Split('\n').LastOrDefault()}";
                return null;
            }
            return double.Parse(output.Trim(), CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or FormatException)
        {
            note = $"python3 json.load not measured: {e.Message}";
            return null;
        }
    }

    /// <summary>Resets the kernel's peak-RSS mark (Linux), so the peak is that of the measured work, not of the generator.</summary>
    public static void ResetPeak()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        try
        {
            if (OperatingSystem.IsLinux()) File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    public static double ResidentMb()
    {
        if (OperatingSystem.IsLinux())
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
        using var p = Process.GetCurrentProcess();
        return p.WorkingSet64 / (1024.0 * 1024.0);
    }

    public static double PeakMb()
    {
        if (OperatingSystem.IsLinux())
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024.0;
        }
        using var p = Process.GetCurrentProcess();
        return p.PeakWorkingSet64 / (1024.0 * 1024.0);
    }
}
