using Magneton.Core.Bundles;

namespace Magneton.Core.Traces;

public static partial class TraceComparison
{
    /// <summary>One side: the rank and step compared, its operator forest, and per-node kernel lists.</summary>
    internal sealed class Side
    {
        public required string Label { get; init; }
        public required TraceInput Input { get; init; }
        public required RankTrace Rank { get; init; }
        public required TraceStep Step { get; init; }
        public required int StepIndex { get; init; }
        public required int[] Roots { get; init; }
        /// <summary>Every node of the step's forest, in preorder.</summary>
        public required List<int> Nodes { get; init; }
        public required Dictionary<int, List<int>> ActivitiesOf { get; init; }
        public required long GpuNs { get; init; }
        public required int Kernels { get; init; }
        public TraceIndex Index => Rank.Index;

        /// <summary>What the report calls this side: the input's name, unless the other side's is the same.</summary>
        public string InputName { get; private set; } = "";

        public string System => Rank.Source == RankSource.None && Input.IsDirectory
            ? $"{InputName} ({Path.GetFileName(Rank.Trace.Path)}, {Step.Name})"
            : $"{InputName} (rank {Rank.Rank}, {Step.Name})";

        private static string BaseName(string path)
        {
            var name = Path.GetFileName(path.TrimEnd('/', '\\'));
            foreach (var ext in new[] { ".gz", ".json", ".pt.trace" })
                if (name.EndsWith(ext, StringComparison.OrdinalIgnoreCase)) name = name[..^ext.Length];
            return name;
        }

        /// <summary>
        /// Two inputs of one name (run1/trace.json, run2/trace.json) are told apart by their directories, else by
        /// their devices, else by side.
        /// </summary>
        public static void NameApart(Side a, Side b)
        {
            a.InputName = BaseName(a.Input.Path);
            b.InputName = BaseName(b.Input.Path);
            if (a.InputName != b.InputName) return;
            string dirA = DirectoryName(a.Input.Path), dirB = DirectoryName(b.Input.Path);
            if (dirA != dirB)
            {
                a.InputName = $"{dirA}/{a.InputName}";
                b.InputName = $"{dirB}/{b.InputName}";
                return;
            }
            string? devA = a.Rank.Trace.DeviceName, devB = b.Rank.Trace.DeviceName;
            if (devA is not null && devB is not null && devA != devB)
            {
                a.InputName = $"{a.InputName} on {devA}";
                b.InputName = $"{b.InputName} on {devB}";
                return;
            }
            if (a.Input.Path == b.Input.Path && a.Step.Name != b.Step.Name) return; // two steps of one trace: the steps tell
            a.InputName = $"A: {a.InputName}";
            b.InputName = $"B: {b.InputName}";
        }

        private static string DirectoryName(string path) =>
            Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(path.TrimEnd('/', '\\'))) ?? "") ?? "";

        public static Side Pick(TraceInput input, TraceCompareOptions options, string label, List<string> notes)
        {
            // --rank is honoured on every input, a single trace included, or refused: never silently ignored.
            var rank = input.Select(options.Rank);
            foreach (var n in input.Notes) notes.Add($"{label}: {n}");
            if (rank.Trace.OtherCategoriesNote() is { } other) notes.Add($"{label}: {other}");
            if (input.Ranks.Count > 1 && options.Rank is null)
                notes.Add($"{label}: {input.Ranks.Count} ranks ({string.Join(", ", input.Ranks.Select(r => r.Rank))}); compared rank {rank.Rank} (choose with --rank)");
            var index = rank.Index;
            TraceStep step;
            if (((label == "A" ? options.StepA : options.StepB) ?? options.Step) is { } wanted)
            {
                if (!index.HasProfilerSteps)
                    throw new BundleException(rank.Trace.Path, "ProfilerStep", $"the trace has no ProfilerStep#N, so --step {wanted} cannot be found; drop --step to compare whole traces");
                step = index.Steps.FirstOrDefault(s => s.Number == wanted)
                       ?? throw new BundleException(rank.Trace.Path, $"ProfilerStep#{wanted}", $"is not in the trace (steps: {Describe(index.Steps)})");
                if (!step.Complete) notes.Add($"{label}: {step.Name} runs past the end of the recording (cut short)");
            }
            else if (!index.HasProfilerSteps)
            {
                step = index.Steps[0];
                notes.Add($"{label}: no ProfilerStep#N in the trace: compared the whole trace");
            }
            else if (index.LastCompleteStep is { } last)
            {
                step = last;
            }
            else
            {
                step = index.Steps[^1];
                notes.Add($"{label}: no ProfilerStep ends before the recording does: compared the last one, {step.Name}, cut short");
            }
            int stepIndex = index.StepIndex(step);
            var roots = index.Roots(stepIndex);
            var nodes = new List<int>();
            var stack = new Stack<int>();
            for (int r = roots.Length - 1; r >= 0; r--) stack.Push(roots[r]);
            while (stack.Count > 0)
            {
                int x = stack.Pop();
                nodes.Add(x);
                var children = index.Children(x);
                for (int c = children.Length - 1; c >= 0; c--) stack.Push(children[c]);
            }
            var events = index.Trace.Events;
            var activities = new Dictionary<int, List<int>>();
            long gpu = 0;
            int kernels = 0;
            for (int i = 0; i < events.Length; i++)
            {
                if (!TraceEventKinds.IsGpuActivity(events[i].Kind) || index.StepOf[i] != stepIndex) continue;
                gpu += events[i].Duration;
                if (events[i].Kind == TraceEventKind.Kernel) kernels++;
                int owner = index.OwnerOf[i];
                if (owner < 0) continue;
                if (!activities.TryGetValue(owner, out var list)) activities[owner] = list = new List<int>();
                list.Add(i);
            }
            return new Side
            {
                Label = label, Input = input, Rank = rank, Step = step, StepIndex = stepIndex, Roots = roots, Nodes = nodes,
                ActivitiesOf = activities, GpuNs = gpu, Kernels = kernels,
            };
        }

        private static string Describe(IReadOnlyList<TraceStep> steps)
        {
            var numbers = steps.Select(s => s.Number).OrderBy(n => n).ToList();
            bool contiguous = numbers.Count > 2 && numbers[^1] - numbers[0] == numbers.Count - 1;
            return contiguous ? $"{numbers[0]}-{numbers[^1]}" : string.Join(", ", numbers);
        }

        public long Inclusive(int node) => Index.InclusiveGpu[node];
        public string Name(int node) => Index.Name(node);

        /// <summary>Kernel (and copy/fill) names in the node's subtree with their GPU time, longest first.</summary>
        public List<(string Name, long Ns)> KernelsUnder(int node)
        {
            var byName = new Dictionary<string, long>(StringComparer.Ordinal);
            var stack = new Stack<int>();
            stack.Push(node);
            while (stack.Count > 0)
            {
                int x = stack.Pop();
                if (ActivitiesOf.TryGetValue(x, out var list))
                    foreach (int g in list)
                    {
                        var name = Index.Name(g);
                        byName[name] = byName.GetValueOrDefault(name) + Index.Trace.Events[g].Duration;
                    }
                foreach (int c in Index.Children(x)) stack.Push(c);
            }
            return byName.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (kv.Key, kv.Value)).ToList();
        }

        public IEnumerable<int> Subtree(int node)
        {
            var stack = new Stack<int>();
            stack.Push(node);
            while (stack.Count > 0)
            {
                int x = stack.Pop();
                yield return x;
                var children = Index.Children(x);
                for (int c = children.Length - 1; c >= 0; c--) stack.Push(children[c]);
            }
        }

        private HashSet<int>? _rootSet;

        /// <summary>The step's top-level nodes, as a set.</summary>
        public HashSet<int> RootSet => _rootSet ??= Roots.ToHashSet();

        /// <summary>Operator names from the step's top level down to the node.</summary>
        public List<string> PathTo(int node)
        {
            var path = new List<string>();
            for (int x = node; x >= 0; x = Index.NodeParent[x])
            {
                path.Add(Name(x));
                if (RootSet.Contains(x)) break;
            }
            path.Reverse();
            return path;
        }
    }
}
