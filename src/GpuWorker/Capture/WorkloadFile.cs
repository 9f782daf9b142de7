using System.Text.Json;

namespace Magneton.GpuWorker.Capture;

/// <summary>
/// The workloads a GPU node allows (<c>magneton worker --workloads FILE</c>):
/// <c>{"workloads": {"NAME": {"command": ["python3", "/models/gpt2.py"], "cwd": "/models", "env": {"K": "V"},
/// "args": ["--activation=gelu_new|gelu_pytorch_tanh", "--fast"]}}}</c>. Only "command" is required.
/// </summary>
public static class WorkloadFile
{
    public static IReadOnlyDictionary<string, Workload> Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CaptureException($"{path}: cannot read the workload file: {e.Message}");
        }
        return Parse(text, path);
    }

    public static IReadOnlyDictionary<string, Workload> Parse(string text, string path)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text);
        }
        catch (JsonException e)
        {
            throw new CaptureException($"{path}: not JSON ({e.Message})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("workloads", out var all) || all.ValueKind != JsonValueKind.Object)
                throw new CaptureException($"{path}: workloads: missing (an object of named workloads)");
            var result = new Dictionary<string, Workload>(StringComparer.Ordinal);
            foreach (var w in all.EnumerateObject())
                result[w.Name] = One(w.Name, w.Value, path);
            if (result.Count == 0) throw new CaptureException($"{path}: workloads: empty");
            return result;
        }
    }

    static Workload One(string name, JsonElement w, string path)
    {
        string field = $"workloads.{name}";
        CaptureException Bad(string f, string problem) => new($"{path}: {field}.{f}: {problem}");
        if (name.Length == 0 || name.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            throw new CaptureException($"{path}: {field}: a workload name has no spaces");
        if (w.ValueKind != JsonValueKind.Object) throw new CaptureException($"{path}: {field}: not an object");
        foreach (var p in w.EnumerateObject())
            if (p.Name is not ("command" or "cwd" or "env" or "args" or "device"))
                throw Bad(p.Name, "unknown field (command, cwd, env, args, device)");

        var command = Strings(w, "command", Bad) ?? throw Bad("command", "missing");
        if (command.Count == 0) throw Bad("command", "empty");
        try
        {
            ProbeLauncher.Split(command);
        }
        catch (CaptureException ex)
        {
            throw Bad("command", ex.Message);
        }

        string? cwd = null;
        if (w.TryGetProperty("cwd", out var c))
        {
            if (c.ValueKind != JsonValueKind.String || !Path.IsPathFullyQualified(c.GetString()!))
                throw Bad("cwd", "an absolute directory path");
            cwd = c.GetString();
        }

        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        if (w.TryGetProperty("env", out var e))
        {
            if (e.ValueKind != JsonValueKind.Object) throw Bad("env", "an object of strings");
            foreach (var v in e.EnumerateObject())
            {
                if (v.Value.ValueKind != JsonValueKind.String || v.Name.Length == 0 || v.Name.Contains('='))
                    throw Bad("env." + v.Name, "a variable name and a string value");
                env[v.Name] = v.Value.GetString()!;
            }
        }

        var args = new List<WorkloadArgument>();
        foreach (var a in Strings(w, "args", Bad) ?? [])
        {
            try
            {
                args.Add(WorkloadArgument.Parse(a));
            }
            catch (ArgumentException ex)
            {
                throw Bad("args", ex.Message);
            }
        }
        var device = Magneton.Core.Bundles.CaptureDevice.Gpu;
        if (w.TryGetProperty("device", out var d))
            device = d.ValueKind == JsonValueKind.String && d.GetString() is "cuda" or "cpu"
                ? d.GetString() == "cpu" ? Magneton.Core.Bundles.CaptureDevice.Cpu : Magneton.Core.Bundles.CaptureDevice.Gpu
                : throw Bad("device", "cuda or cpu");
        return new Workload(name, command, cwd, env, args) { Device = device };
    }

    static List<string>? Strings(JsonElement w, string name, Func<string, string, CaptureException> bad)
    {
        if (!w.TryGetProperty(name, out var a)) return null;
        if (a.ValueKind != JsonValueKind.Array || a.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
            throw bad(name, "an array of strings");
        return a.EnumerateArray().Select(x => x.GetString()!).ToList();
    }
}
