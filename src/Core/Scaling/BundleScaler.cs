using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Magneton.Core.Bundles;
using Magneton.Core.Energy;

namespace Magneton.Core.Scaling;

/// <summary>
/// Builds a pair of large bundles from a real pair by repeating its structure (decode steps or whole jobs) with
/// fresh values, shifted trace events and a consistent energy pass, and plants known differences on side A, so that
/// the whole pipeline (reader, matcher, detector) can be measured at any size on data shaped like a real capture.
/// </summary>
public static class BundleScaler
{
    public static ScaledPair ScalePair(string sourceA, string sourceB, string outA, string outB, ScaleOptions options)
    {
        using var dfA = new DataflowSource(Path.Combine(sourceA, BundleFiles.Dataflow));
        using var dfB = new DataflowSource(Path.Combine(sourceB, BundleFiles.Dataflow));
        var stepA = StepStructure.Detect(dfA, options.Mode);
        var stepB = StepStructure.Detect(dfB, stepA.Mode);
        if (stepB.Mode != stepA.Mode)
            throw new InvalidOperationException($"side B does not repeat like side A ({stepA.Mode} vs {stepB.Mode})");

        int copies = stepA.Mode == ScalingMode.Job
            ? Math.Max(1, (int)Math.Round(options.TargetOperators / (double)dfA.Count))
            : 1 + Math.Max(0, (int)Math.Round((options.TargetOperators - dfA.Count) / (double)stepA.Length));
        var occurrences = options.PlantOccurrences?.ToHashSet();
        bool PlantA(int copy, int occurrence) => options.PlantSites is { } sites
            ? sites.Contains((copy, occurrence))
            : options.PlantEvery > 0 && copy % options.PlantEvery == 0 && (occurrences is null || occurrences.Contains(occurrence));

        var a = Task.Run(() => ScaleOne(sourceA, outA, dfA, stepA, copies, PlantA, options, options.WriteUncompressedTraceA));
        var b = Task.Run(() => ScaleOne(sourceB, outB, dfB, stepB, copies, (_, _) => false, options, false));
        var (bundleA, resultA) = a.GetAwaiter().GetResult();
        var (bundleB, resultB) = b.GetAwaiter().GetResult();

        var plants = resultA.PlantNodes.Select(p => new PlantedDifference(p.Copy, p.TemplateIndex, p.Module, p.ChainEndNode,
            stepA.Length == stepB.Length ? resultB.CopyNodeIds[p.Copy - 1][p.TemplateIndex] : -1)).ToList();
        return new ScaledPair(bundleA, bundleB, stepA.Mode, copies, stepA.Length, stepB.Length, plants);
    }

    static (ScaledBundle, DataflowScaleResult) ScaleOne(string source, string outDir, DataflowSource df, StepStructure step,
        int copies, Func<int, int, bool> planted, ScaleOptions options, bool uncompressed)
    {
        Directory.CreateDirectory(outDir);
        string suffix = copies > 1 ? $"-x{copies}" : "";
        var dataflow = DataflowScaler.Write(df, step, copies, suffix, planted, options.PlantOperator, options.PlantKind, options.PlantWeight,
            Path.Combine(outDir, BundleFiles.Dataflow));
        string? plain = uncompressed ? Path.Combine(outDir, "kineto.json") : null;
        var trace = TraceScaler.Write(Path.Combine(source, BundleFiles.Kineto), step, df, dataflow, copies,
            Path.Combine(outDir, BundleFiles.Kineto), plain, options.Compression);
        WriteMeasure(Path.Combine(source, BundleFiles.Measure), Path.Combine(outDir, BundleFiles.Measure), trace, suffix);
        WritePower(source, Path.Combine(outDir, BundleFiles.Power), trace);
        foreach (var name in BundleFiles.Optional)
        {
            var from = Path.Combine(source, name);
            if (name == BundleFiles.Replay && File.Exists(from)) WriteRenamed(from, Path.Combine(outDir, name), suffix);
            else if (File.Exists(from)) File.Copy(from, Path.Combine(outDir, name), overwrite: true);
        }
        return (new ScaledBundle(outDir, dataflow.Operators, trace.UncompressedBytes, trace.Events, dataflow.Bytes, plain), dataflow);
    }

    /// <summary>
    /// measure.json for one energy-pass iteration of the scaled job; the uninstrumented baseline grows with the job
    /// in the proportion the energy pass did.
    /// </summary>
    static void WriteMeasure(string from, string to, TraceScaleResult trace, string suffix)
    {
        var root = JsonNode.Parse(File.ReadAllText(from))!.AsObject();
        if (root["system"] is JsonValue sys && sys.TryGetValue<string>(out var name)) root["system"] = name + suffix;
        var pass = root["energy_pass"]!.AsObject();
        double passIter = pass["iter_s"]!.GetValue<double>();
        double wall = (trace.SyncEndStartNs - trace.SyncBeginEndNs) / 1e9;
        pass["iterations"] = 1;
        pass["wall_s"] = wall;
        pass["iter_s"] = wall;
        pass["sync_begin_unix_ns"] = new JsonArray(trace.SyncBeginStartNs, trace.SyncBeginEndNs);
        pass["sync_end_unix_ns"] = new JsonArray(trace.SyncEndStartNs, trace.SyncEndEndNs);
        pass.Remove("op_sequence_mismatch");
        double f = passIter > 0 ? wall / passIter : 1;
        var baseline = root["baseline"]!.AsObject();
        int iterations = baseline["iterations"]!.GetValue<int>();
        double iterS = baseline["iter_s"]!.GetValue<double>() * f;
        double iterJ = baseline["iter_energy_counter_j"]!.GetValue<double>() * f;
        baseline["iter_s"] = iterS;
        baseline["iter_energy_counter_j"] = iterJ;
        baseline["wall_s"] = iterS * iterations;
        baseline["energy_counter_j"] = iterJ * iterations;
        // window_unix_ns stays the source's: baseline_power.csv is copied as it is, and its samples cover that window
        // (the scaled wall_s would reach past them, and BundleConsistency refuses a baseline the samples do not cover).
        File.WriteAllText(to, root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>A copy of a JSON file that names the system, naming the scaled one as dataflow.json and measure.json do.</summary>
    static void WriteRenamed(string from, string to, string suffix)
    {
        var root = JsonNode.Parse(File.ReadAllText(from))!.AsObject();
        if (root["system"] is JsonValue sys && sys.TryGetValue<string>(out var name)) root["system"] = name + suffix;
        File.WriteAllText(to, root.ToJsonString());
    }

    /// <summary>
    /// power.csv over the scaled pass: the energy counter rises at the power the original pass drew, updating at the
    /// original counter's period, sampled at the original sampling period.
    /// </summary>
    static void WritePower(string source, string to, TraceScaleResult trace)
    {
        var samples = PowerCsvReader.Read(Path.Combine(source, BundleFiles.Power), BundleFiles.Power);
        var measure = MeasureReader.Read(Path.Combine(source, BundleFiles.Measure));
        var w = CounterWindow.Measure(samples, measure.EnergyPass.SyncBeginEndNs, measure.EnergyPass.SyncEndStartNs);
        double watts = w.IsValid ? w.PowerW
            : samples.PowerAverageMw.Where(x => x > 0).Select(x => x / 1000.0).DefaultIfEmpty(100).Average();
        long samplePeriod = Median(Enumerable.Range(1, samples.Count - 1).Select(i => samples.TimeNs[i] - samples.TimeNs[i - 1]), 2_500_000);
        var updates = Enumerable.Range(1, samples.Count - 1).Where(i => samples.EnergyMj[i] != samples.EnergyMj[i - 1]).ToList();
        long updatePeriod = Median(Enumerable.Range(1, Math.Max(0, updates.Count - 1)).Select(k => samples.TimeNs[updates[k]] - samples.TimeNs[updates[k - 1]]), 20_000_000);
        samplePeriod = Math.Max(samplePeriod, 100_000);
        updatePeriod = Math.Max(updatePeriod, samplePeriod);
        long t0 = trace.SyncBeginStartNs - 200_000_000, t1 = trace.SyncEndEndNs + 200_000_000;
        long e0 = samples.EnergyMj.FirstOrDefault(x => x >= 0, 0);
        long mw = (long)Math.Round(watts * 1000);
        var sb = new StringBuilder("t_unix_ns,power_instant_mw,power_avg_mw,energy_mj\n");
        for (long t = t0; t <= t1; t += samplePeriod)
        {
            long updatesSoFar = (t - t0) / updatePeriod;
            long energy = e0 + (long)Math.Round(updatesSoFar * (updatePeriod / 1e9) * watts * 1000);
            sb.Append(CultureInfo.InvariantCulture, $"{t},{mw},{mw},{energy}\n");
        }
        File.WriteAllText(to, sb.ToString());
    }

    static long Median(IEnumerable<long> values, long fallback)
    {
        var a = values.Where(v => v > 0).Order().ToArray();
        return a.Length == 0 ? fallback : a[a.Length / 2];
    }
}
