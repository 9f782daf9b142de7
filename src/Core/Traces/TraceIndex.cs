namespace Magneton.Core.Traces;

/// <summary>A ProfilerStep#N of the trace (or, in a trace without steps, the whole trace as one pseudo-step).</summary>
public sealed record TraceStep(int Number, string Name, long Start, long End, bool Complete, int Event)
{
    public bool WholeTrace => Event < 0;
    public long Duration => End - Start;
}

/// <summary>
/// The structure of one trace: its steps, the call tree of its host-side operators (nesting by time on each thread),
/// and which operator every GPU activity belongs to (activity -> launch by correlation id -> innermost enclosing
/// operator). All arrays are indexed by event index in <see cref="ProfilerTrace.Events"/>.
/// </summary>
/// <remarks>
/// Nodes of the tree are the operators (cpu_op and user_annotation events, ProfilerStep#N excluded) and the launch
/// calls (kernel launches, async copies/fills, graph launches) that no operator encloses, so that GPU work launched
/// from bare Python is still accounted for. A launch inside an operator is not a node: its GPU time is the
/// operator's own (self) GPU time. Step membership is by start time within the step's span on any host thread,
/// as Holistic Trace Analysis assigns iterations; a GPU activity belongs to the step of its launch.
/// </remarks>
public sealed class TraceIndex
{
    public ProfilerTrace Trace { get; }
    public IReadOnlyList<TraceStep> Steps { get; }
    /// <summary>False when the trace has no ProfilerStep#N: <see cref="Steps"/> is then the whole trace.</summary>
    public bool HasProfilerSteps { get; }

    internal readonly bool[] IsNode;
    internal readonly int[] NodeParent;
    internal readonly int[] StepOf;
    internal readonly int[] LaunchOf;
    internal readonly int[] OwnerOf;
    internal readonly long[] SelfGpu;
    internal readonly long[] InclusiveGpu;
    private readonly int[] _childStart;
    private readonly int[] _children;

    /// <summary>GPU activities whose launch is not in the trace (or that carry no correlation id).</summary>
    public long UnlinkedActivities { get; }

    private TraceIndex(ProfilerTrace trace)
    {
        Trace = trace;
        var events = trace.Events;
        int n = events.Length;
        IsNode = new bool[n];
        NodeParent = new int[n];
        StepOf = new int[n];
        LaunchOf = new int[n];
        OwnerOf = new int[n];
        SelfGpu = new long[n];
        InclusiveGpu = new long[n];
        Array.Fill(NodeParent, -1);
        Array.Fill(StepOf, -1);
        Array.Fill(LaunchOf, -1);
        Array.Fill(OwnerOf, -1);

        var stepNumber = StepNumbers(trace);
        var steps = FindSteps(trace, stepNumber);
        HasProfilerSteps = steps.Count > 0;
        if (!HasProfilerSteps) steps.Add(WholeTraceStep(trace));
        Steps = steps;

        UnlinkedActivities = LinkActivities(events, out var launchesWork);
        var order = HostOrder(events, stepNumber);
        Nest(trace, order, launchesWork);
        AssignSteps(events, steps);
        MarkTailStep(events, steps);
        (_childStart, _children) = Children(order, n);
        for (int k = order.Length - 1; k >= 0; k--)
        {
            int e = order[k];
            if (!IsNode[e]) continue;
            InclusiveGpu[e] += SelfGpu[e];
            if (NodeParent[e] >= 0) InclusiveGpu[NodeParent[e]] += InclusiveGpu[e];
        }
    }

    /// <summary>Links each device activity to its launch call by correlation id; returns the GPU activities left without one.</summary>
    private long LinkActivities(TraceEvent[] events, out bool[] launchesWork)
    {
        int n = events.Length;
        var byCorrelation = new Dictionary<long, int>();
        for (int i = 0; i < n; i++)
            if (TraceEventKinds.IsApiCall(events[i].Kind) && events[i].HasCorrelation) byCorrelation.TryAdd(events[i].Correlation, i);
        launchesWork = new bool[n];
        long unlinked = 0;
        for (int i = 0; i < n; i++)
        {
            if (!TraceEventKinds.IsDevice(events[i].Kind)) continue;
            if (events[i].HasCorrelation && byCorrelation.TryGetValue(events[i].Correlation, out int l))
            {
                LaunchOf[i] = l;
                // A synchronisation the GPU records (cuda_sync) is not work the call launched.
                if (TraceEventKinds.IsGpuActivity(events[i].Kind)) launchesWork[l] = true;
            }
            else if (TraceEventKinds.IsGpuActivity(events[i].Kind)) unlinked++;
        }
        return unlinked;
    }

    /// <summary>Host operators (steps excluded) and API calls sorted by (thread, start, longer first, file order).</summary>
    private static int[] HostOrder(TraceEvent[] events, int[] stepNumber)
    {
        int n = events.Length, count = 0;
        var order = new int[n];
        for (int i = 0; i < n; i++)
        {
            var k = events[i].Kind;
            if ((TraceEventKinds.IsOperator(k) && stepNumber[events[i].Name] < 0) || TraceEventKinds.IsApiCall(k)) order[count++] = i;
        }
        Array.Resize(ref order, count);
        Array.Sort(order, (x, y) =>
        {
            ref readonly var a = ref events[x];
            ref readonly var b = ref events[y];
            int c = a.Thread.CompareTo(b.Thread);
            if (c != 0) return c;
            c = a.Start.CompareTo(b.Start);
            if (c != 0) return c;
            c = b.End.CompareTo(a.End);
            return c != 0 ? c : x.CompareTo(y);
        });
        return order;
    }

    /// <summary>Nesting on each host thread by time (a stack over <paramref name="order"/>): parents and which events are nodes.</summary>
    private void Nest(ProfilerTrace trace, int[] order, bool[] launchesWork)
    {
        var events = trace.Events;
        var launchLikeName = new sbyte[trace.Names.Count];
        var stack = new List<int>();
        int thread = -1;
        foreach (int e in order)
        {
            ref readonly var ev = ref events[e];
            if (ev.Thread != thread)
            {
                stack.Clear();
                thread = ev.Thread;
            }
            while (stack.Count > 0 && events[stack[^1]].End <= ev.Start) stack.RemoveAt(stack.Count - 1);
            int parent = stack.Count > 0 ? stack[^1] : -1;
            NodeParent[e] = parent < 0 ? -1 : IsNode[parent] ? parent : NodeParent[parent];
            IsNode[e] = TraceEventKinds.IsOperator(ev.Kind)
                || (NodeParent[e] < 0 && (launchesWork[e] || LaunchLike(trace, launchLikeName, ev.Name)));
            stack.Add(e);
        }
    }

    /// <summary>Steps: host events by start time, device events by their launch; a device event's GPU time goes to its owner.</summary>
    private void AssignSteps(TraceEvent[] events, List<TraceStep> steps)
    {
        int n = events.Length;
        var starts = steps.Select(s => s.Start).ToArray();
        for (int i = 0; i < n; i++)
        {
            if (TraceEventKinds.IsDevice(events[i].Kind)) continue;
            StepOf[i] = FindStep(steps, starts, events[i].Start);
        }
        for (int i = 0; i < n; i++)
        {
            if (!TraceEventKinds.IsDevice(events[i].Kind)) continue;
            int l = LaunchOf[i];
            StepOf[i] = l >= 0 ? StepOf[l] : HasProfilerSteps ? -1 : 0;
            if (l >= 0) OwnerOf[i] = IsNode[l] ? l : NodeParent[l];
            if (OwnerOf[i] >= 0 && TraceEventKinds.IsGpuActivity(events[i].Kind)) SelfGpu[OwnerOf[i]] += events[i].Duration;
        }
    }

    /// <summary>The last step is often a tail: the profiler stops inside it, after little or none of the step's work.</summary>
    private void MarkTailStep(TraceEvent[] events, List<TraceStep> steps)
    {
        if (!HasProfilerSteps || steps.Count <= 1 || !steps[^1].Complete) return;
        var opsPerStep = new int[steps.Count];
        for (int i = 0; i < events.Length; i++)
            if (IsNode[i] && TraceEventKinds.IsOperator(events[i].Kind) && StepOf[i] >= 0) opsPerStep[StepOf[i]]++;
        var earlier = opsPerStep.Take(steps.Count - 1).Order().ToArray();
        int median = earlier[earlier.Length / 2];
        if (opsPerStep[^1] * 2 < median) steps[^1] = steps[^1] with { Complete = false };
    }

    /// <summary>Children lists in start order (<paramref name="order"/> is sorted by start on each thread), as CSR arrays.</summary>
    private (int[] Start, int[] Children) Children(int[] order, int n)
    {
        var childStart = new int[n + 1];
        foreach (int e in order)
            if (IsNode[e] && NodeParent[e] >= 0) childStart[NodeParent[e] + 1]++;
        for (int i = 0; i < n; i++) childStart[i + 1] += childStart[i];
        var children = new int[childStart[n]];
        var fill = new int[n];
        foreach (int e in order)
        {
            if (!IsNode[e] || NodeParent[e] < 0) continue;
            int p = NodeParent[e];
            children[childStart[p] + fill[p]++] = e;
        }
        return (childStart, children);
    }

    public static TraceIndex Build(ProfilerTrace trace) => new(trace);

    public string Name(int e) => Trace.Names[Trace.Events[e].Name];

    internal ReadOnlySpan<int> Children(int node) => _children.AsSpan(_childStart[node], _childStart[node + 1] - _childStart[node]);

    /// <summary>The last step whose span ends before the recording does (the profiler may stop inside the last one).</summary>
    public TraceStep? LastCompleteStep => Steps.LastOrDefault(s => s.Complete);

    public int StepIndex(TraceStep step)
    {
        for (int i = 0; i < Steps.Count; i++)
            if (ReferenceEquals(Steps[i], step)) return i;
        return -1;
    }

    /// <summary>
    /// The step's top-level nodes: its nodes whose enclosing node is outside the step (or absent), threads in the
    /// order they first act in the step, each thread's nodes in start order.
    /// </summary>
    internal int[] Roots(int step)
    {
        var events = Trace.Events;
        var roots = new List<int>();
        for (int i = 0; i < events.Length; i++)
        {
            if (!IsNode[i] || StepOf[i] != step) continue;
            int p = NodeParent[i];
            if (p < 0 || StepOf[p] != step) roots.Add(i);
        }
        var firstOnThread = new Dictionary<int, long>();
        foreach (int r in roots)
        {
            int t = events[r].Thread;
            if (!firstOnThread.TryGetValue(t, out long f) || events[r].Start < f) firstOnThread[t] = events[r].Start;
        }
        return roots
            .OrderBy(r => firstOnThread[events[r].Thread]).ThenBy(r => events[r].Thread)
            .ThenBy(r => events[r].Start).ThenBy(r => r)
            .ToArray();
    }

    private static int[] StepNumbers(ProfilerTrace trace)
    {
        var numbers = new int[trace.Names.Count];
        for (int i = 0; i < numbers.Length; i++)
        {
            var s = trace.Names[i];
            numbers[i] = s.StartsWith("ProfilerStep#", StringComparison.Ordinal)
                         && int.TryParse(s.AsSpan("ProfilerStep#".Length), System.Globalization.NumberStyles.None,
                             System.Globalization.CultureInfo.InvariantCulture, out int v)
                ? v
                : -1;
        }
        return numbers;
    }

    private static List<TraceStep> FindSteps(ProfilerTrace trace, int[] stepNumber)
    {
        var best = new Dictionary<int, int>();
        var events = trace.Events;
        for (int i = 0; i < events.Length; i++)
        {
            ref readonly var ev = ref events[i];
            if (TraceEventKinds.IsDevice(ev.Kind) || stepNumber[ev.Name] < 0) continue;
            int number = stepNumber[ev.Name];
            if (!best.TryGetValue(number, out int j) || events[j].Duration < ev.Duration) best[number] = i;
        }
        return best
            .Select(kv => new TraceStep(kv.Key, trace.Names[events[kv.Value].Name], events[kv.Value].Start, events[kv.Value].End,
                events[kv.Value].End <= trace.RecordingEnd, kv.Value))
            .OrderBy(s => s.Start).ThenBy(s => s.Number)
            .ToList();
    }

    private static TraceStep WholeTraceStep(ProfilerTrace trace)
    {
        long start = long.MaxValue, end = long.MinValue;
        foreach (ref readonly var ev in trace.Events.AsSpan())
        {
            start = Math.Min(start, ev.Start);
            end = Math.Max(end, ev.End);
        }
        if (start == long.MaxValue) start = end = 0;
        return new TraceStep(-1, "whole trace", start, end + 1, true, -1);
    }

    private static int FindStep(List<TraceStep> steps, long[] starts, long t)
    {
        int k = Array.BinarySearch(starts, t);
        if (k < 0) k = ~k - 1;
        else while (k + 1 < starts.Length && starts[k + 1] == t) k++;
        for (; k >= 0; k--)
        {
            if (t < steps[k].End) return k;
            if (k > 0 && steps[k - 1].End <= steps[k].Start) break; // steps do not overlap: no earlier one can hold t
        }
        return -1;
    }

    /// <summary>API calls that put work on the GPU (kernel launches, async copies and fills, graph launches).</summary>
    private static bool LaunchLike(ProfilerTrace trace, sbyte[] cache, int name)
    {
        if (cache[name] != 0) return cache[name] > 0;
        var s = trace.Names[name];
        bool launch = s.Contains("Launch", StringComparison.Ordinal) || s.Contains("Memcpy", StringComparison.Ordinal)
                      || s.Contains("Memset", StringComparison.Ordinal);
        cache[name] = (sbyte)(launch ? 1 : -1);
        return launch;
    }
}
