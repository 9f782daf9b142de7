namespace Magneton.Core.Bundles;

/// <summary>Running totals of one energy-pass operator while activities are attributed in time order.</summary>
internal sealed class OperatorAccumulator(int traceId, string op)
{
    private readonly Dictionary<long, int> _kernelIndex = [];
    private readonly List<(int Name, TraceCategory Category, int Count, long Nanos)> _kernels = [];
    private long _nanos;

    public int TraceId { get; } = traceId;
    public string Op { get; } = op;
    public int Occurrences { get; set; }
    private readonly Dictionary<int, long> _rangeNanos = [];

    /// <summary>Adds the duration of one of its mg# ranges, per iteration (its host time).</summary>
    public void AddRange(int iteration, long nanos) =>
        _rangeNanos[iteration] = _rangeNanos.GetValueOrDefault(iteration) + nanos;

    private double MedianRangeSeconds()
    {
        if (_rangeNanos.Count == 0) return 0;
        var v = _rangeNanos.Values.Order().ToArray();
        int m = v.Length / 2;
        return (v.Length % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2.0) / 1e9;
    }

    public void Add(in TraceActivity a)
    {
        _nanos += a.Duration;
        long key = ((long)a.Name << 8) | (byte)a.Category;
        if (_kernelIndex.TryGetValue(key, out int i))
        {
            var k = _kernels[i];
            _kernels[i] = (k.Name, k.Category, k.Count + 1, k.Nanos + a.Duration);
        }
        else
        {
            _kernelIndex.Add(key, _kernels.Count);
            _kernels.Add((a.Name, a.Category, 1, a.Duration));
        }
    }

    public TraceOperator ToTraceOperator(Utf8Interner names)
    {
        var kernels = new KernelCount[_kernels.Count];
        for (int i = 0; i < kernels.Length; i++)
        {
            var k = _kernels[i];
            kernels[i] = new KernelCount(names.GetString(k.Name), TraceCategories.Name(k.Category), k.Count, k.Nanos / 1e9);
        }
        return new TraceOperator(TraceId, Op, Occurrences, _nanos / 1e9, kernels) { HostSecondsMedian = MedianRangeSeconds() };
    }
}
