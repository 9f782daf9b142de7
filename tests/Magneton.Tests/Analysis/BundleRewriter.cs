using Magneton.Core.Bundles;

namespace Magneton.Tests.Analysis;

/// <summary>
/// Builds "another implementation of the same function" from a real bundle by rewriting its graph the way a
/// different framework would have written it: operators are replaced, values that both implementations
/// compute keep their fingerprints, and intermediate values that only the new implementation has get
/// fingerprints of their own (they exist nowhere in the original, so they must not match anything).
/// The energy pass is rewritten consistently: new operators get trace entries that share the replaced
/// operators' GPU time.
/// </summary>
public sealed class BundleRewriter(Bundle original)
{
    readonly List<DataflowNode> _nodes = original.Dataflow.Nodes.ToList();
    readonly Dictionary<int, DataflowValue> _values = new(original.Dataflow.Values);
    readonly Dictionary<int, TraceOperator> _trace = new(original.Kineto.Operators);
    int _nextValue = original.Dataflow.Values.Keys.Max() + 1;
    int _nextNode = original.Dataflow.Nodes.Max(n => n.Id) + 1;
    int _nextTrace = original.Kineto.Operators.Keys.DefaultIfEmpty(0).Max() + 1;
    int _fresh = 1;

    public IReadOnlyList<DataflowNode> Nodes => _nodes;
    public DataflowValue Value(int id) => _values[id];

    /// <summary>A parameter with another shape but the same elements (a transposed or sliced weight).</summary>
    public int NewParam(int like, long[] shape, FloatStats? stats = null, long? numel = null)
    {
        var v = _values[like];
        int id = _nextValue++;
        _values[id] = v with { Id = id, Shape = shape, Stride = Contiguous(shape), Numel = numel ?? v.Numel, Stats = stats ?? v.Stats, Deciles = stats is null ? v.Deciles : null, Spectra = null, Producer = null };
        return id;
    }

    /// <summary>An intermediate value that only the rewritten implementation computes.</summary>
    public int NewIntermediate(long[] shape, string dtype)
    {
        int id = _nextValue++;
        double k = 1000 + 17 * _fresh++;
        long n = shape.Aggregate(1L, (x, y) => x * y);
        _values[id] = new DataflowValue(id, shape, dtype, Contiguous(shape), n, "activation", null,
            new FloatStats(k, k / 3, -k, 3 * k, k, k * Math.Sqrt(n)), null, 0, null, null);
        return id;
    }

    /// <summary>Replaces the nodes with the given ids by new ones (inserted where the first stood).</summary>
    public void Replace(int[] oldIds, IEnumerable<(string Op, int[] In, int[] Out, double GpuShare)> replacement)
    {
        int at = _nodes.FindIndex(n => n.Id == oldIds[0]);
        var old = _nodes.Where(n => oldIds.Contains(n.Id)).ToList();
        double gpu = old.Sum(n => n.TraceId is int t && _trace.TryGetValue(t, out var op) ? op.GpuSecondsTotal : 0);
        var kernels = old.SelectMany(n => n.TraceId is int t && _trace.TryGetValue(t, out var op) ? op.Kernels : []).ToList();
        int occurrences = old.Select(n => n.TraceId is int t && _trace.TryGetValue(t, out var op) ? op.Occurrences : 0).DefaultIfEmpty(0).Max();
        var template = old[0];
        _nodes.RemoveAll(n => oldIds.Contains(n.Id));
        var fresh = new List<DataflowNode>();
        foreach (var (op, ins, outs, share) in replacement)
        {
            int id = _nextNode++;
            int traceId = _nextTrace++;
            _trace[traceId] = new TraceOperator(traceId, op, Math.Max(1, occurrences), gpu * share,
                share > 0 ? kernels.Select(k => k with { Seconds = k.Seconds * share }).ToList() : []);
            fresh.Add(template with { Id = id, Op = op, In = ins, Out = outs, View = false, Mutable = false, AliasesUpdated = [], Args = string.Join(",", ins.Select(_ => "T")), TraceId = traceId });
            foreach (var o in outs) _values[o] = _values[o] with { Producer = id };
        }
        _nodes.InsertRange(at, fresh);
    }

    /// <summary>A value with the same fingerprint as <paramref name="like"/>: what an identity on it (x + 0, x * 1, a copy) produces.</summary>
    public int CopyOf(int like)
    {
        int id = _nextValue++;
        _values[id] = _values[like] with { Id = id, Producer = null };
        return id;
    }

    /// <summary>
    /// Puts a new operator after a node, on its first output: the node now writes a new value, which the new operator
    /// reads (with <paramref name="extraInputs"/>) to write the node's old output, so every consumer is unchanged. The
    /// new value is a copy of the output's fingerprint when the new operator is an identity on it, else a fresh one.
    /// The new operator launches the node's kernels for <paramref name="gpuShare"/> of its GPU time (none at 0); the node keeps its own.
    /// </summary>
    public int Follow(int nodeId, string op, double gpuShare, bool identity, params int[] extraInputs) =>
        Follow(nodeId, op, gpuShare, identity, module: null, extraInputs);

    /// <summary><see cref="Follow(int, string, double, bool, int[])"/>, the new operator called from <paramref name="module"/> (null: the node's).</summary>
    public int Follow(int nodeId, string op, double gpuShare, bool identity, string? module, params int[] extraInputs)
    {
        int at = _nodes.FindIndex(n => n.Id == nodeId);
        var node = _nodes[at];
        int y = node.Out[0];
        int t = identity ? CopyOf(y) : NewIntermediate(_values[y].Shape, _values[y].Dtype);
        _nodes[at] = node with { Out = [t, .. node.Out.Skip(1)] };
        _values[t] = _values[t] with { Producer = node.Id };
        var source = node.TraceId is int tid && _trace.TryGetValue(tid, out var tr) ? tr : null;
        int id = _nextNode++, traceId = _nextTrace++;
        _trace[traceId] = new TraceOperator(traceId, op, Math.Max(1, source?.Occurrences ?? 1), (source?.GpuSecondsTotal ?? 0) * gpuShare,
            gpuShare > 0 ? source?.Kernels.Select(k => k with { Seconds = k.Seconds * gpuShare }).ToList() ?? [] : []);
        int[] ins = [t, .. extraInputs];
        _nodes.Insert(at + 1, node with { Id = id, Op = op, Module = module ?? node.Module, In = ins, Out = [y], View = false, Mutable = false, AliasesUpdated = [], Args = string.Join(",", ins.Select(_ => "T")), TraceId = traceId });
        _values[y] = _values[y] with { Producer = id };
        return id;
    }

    /// <summary>Replaces one node's operator and inputs in place (same outputs, same GPU work).</summary>
    public void Retarget(int nodeId, string op, int[] inputs)
    {
        int i = _nodes.FindIndex(n => n.Id == nodeId);
        _nodes[i] = _nodes[i] with { Op = op, In = inputs, Args = string.Join(",", inputs.Select(_ => "T")) };
    }

    public Bundle Build(string system)
    {
        // Node ids must stay in execution order for the graph; renumbering is not needed because
        // producers and consumers are linked by value ids, but the order of the list is what matters.
        return original with
        {
            Dataflow = original.Dataflow with { System = system, Nodes = _nodes.ToList(), Values = new Dictionary<int, DataflowValue>(_values) },
            Kineto = original.Kineto with { Operators = new Dictionary<int, TraceOperator>(_trace) },
        };
    }

    static long[] Contiguous(long[] shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }
}
