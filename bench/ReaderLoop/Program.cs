// The ingest readers in a loop, CPU and wall time per read (docs/PERFORMANCE.md, issue 16). From the repository root:
// dotnet run -c Release --project bench/ReaderLoop -- 15 [bundle-trace|dataflow|plain-trace]   (one reader only, e.g. to profile it)
using System.Diagnostics;
using Magneton.Core.Scaling;
using Magneton.Core.Traces;
// Each reader N times after 3 warm-up calls: min and median wall, median CPU of this thread's process.
int n = int.Parse(args[0]);
string? only = args.Length > 1 ? args[1] : null;
var kineto = "samples/llama-generate-null/A-hf-llama-gqa-sdpa-run1/kineto.json.gz";
var dataflow = "samples/llama-generate-null/A-hf-llama-gqa-sdpa-run1/dataflow.json";
var plain = "tests/data/hta/trace_diff/control/control.json.gz";
Measure("bundle-trace", () => HotPaths.ReadTrace(kineto));
Measure("dataflow", () => HotPaths.ReadDataflow(dataflow));
Measure("plain-trace", () => ProfilerTraceReader.Read(plain).Events.Length);
void Measure(string name, Func<long> f)
{
    if (only is not null && only != name) return;
    for (int i = 0; i < 3; i++) f();
    var wall = new List<double>(); var cpu = new List<double>();
    var p = Process.GetCurrentProcess();
    for (int i = 0; i < n; i++)
    {
        GC.Collect();
        p.Refresh(); var c0 = p.TotalProcessorTime; var sw = Stopwatch.StartNew();
        f();
        wall.Add(sw.Elapsed.TotalMilliseconds); p.Refresh(); cpu.Add((p.TotalProcessorTime - c0).TotalMilliseconds);
    }
    wall.Sort(); cpu.Sort();
    Console.WriteLine($"{name}: wall min {wall[0]:F1} ms, median {wall[n / 2]:F1} ms; cpu median {cpu[n / 2]:F1} ms");
}
