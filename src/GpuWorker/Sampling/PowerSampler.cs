using System.Runtime.ExceptionServices;
using Magneton.Core.Bundles;
using Magneton.Core.Energy;

namespace Magneton.GpuWorker.Sampling;

/// <summary>How a <see cref="PowerSampler"/> samples.</summary>
public sealed record PowerSamplerOptions
{
    /// <summary>Minimum time between samples; zero (the default) samples back to back, as fast as NVML answers.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.Zero;

    /// <summary>Read NVML_FI_DEV_POWER_INSTANT each sample (power_instant_mw; -1 when off). One more NVML call per row.</summary>
    public bool ReadInstantPower { get; init; } = true;

    /// <summary>Read nvmlDeviceGetPowerUsage each sample (power_avg_mw; -1 when off). One more NVML call per row.</summary>
    public bool ReadAveragePower { get; init; } = true;

    /// <summary>The Unix-nanosecond clock stamping the rows (tests pass a fake one); it must not go backwards.</summary>
    public Func<long> Clock { get; init; } = UnixClock.NowNs;

    /// <summary>
    /// Rows kept at most (32 bytes each); sampling stops with an error past it. The default, 2^25, is ~9 hours at the
    /// ~1 kHz an H100 allows for the counter alone.
    /// </summary>
    public int MaxRows { get; init; } = 1 << 25;
}

/// <summary>
/// Polls one GPU's energy counter (and, unless switched off, its instantaneous and averaged power) on a background
/// thread, as fast as NVML answers or at <see cref="PowerSamplerOptions.Interval"/>, keeping rows of
/// (Unix ns, instant mW, average mW, energy mJ): the power.csv of a capture bundle. Each row is stamped at the middle
/// of its counter read. The counter moves only every ~100 ms on an H100, so what matters is the instants it moved
/// (<see cref="UpdateCount"/>, <see cref="CounterUpdates"/>): a window's power is the counter increase between the
/// first and last update inside it over the time between them (<see cref="CounterWindow"/>).
/// </summary>
public sealed class PowerSampler : IDisposable
{
    readonly IEnergyCounter _counter;
    readonly PowerSamplerOptions _options;
    readonly object _lock = new();
    long[] _t = new long[4096], _instant = new long[4096], _average = new long[4096], _energy = new long[4096];
    int _count;
    long _updates, _lastUpdateNs = -1, _lastEnergy = -1;
    volatile bool _stop;
    Thread? _thread;
    ExceptionDispatchInfo? _fault;
    int _state; // 0 new, 1 running, 2 stopped

    public PowerSampler(IEnergyCounter counter, PowerSamplerOptions? options = null)
    {
        _counter = counter ?? throw new ArgumentNullException(nameof(counter));
        _options = options ?? new PowerSamplerOptions();
        if (_options.Interval < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(options), "Interval is negative");
        if (_options.MaxRows < 2) throw new ArgumentOutOfRangeException(nameof(options), "MaxRows must be at least 2");
    }

    /// <summary>Rows recorded so far.</summary>
    public int Count
    {
        get { lock (_lock) return _count; }
    }

    /// <summary>How many times the counter has moved since sampling started (rows whose counter differs from the row before).</summary>
    public long UpdateCount => Interlocked.Read(ref _updates);

    /// <summary>The time of the row at which the counter last moved, or -1 before its first update.</summary>
    public long LastUpdateUnixNs => Interlocked.Read(ref _lastUpdateNs);

    /// <summary>Whether the sampling thread stopped on an error (NVML failing mid-run); <see cref="Stop"/> rethrows it.</summary>
    public bool Faulted => Volatile.Read(ref _fault) is not null;

    public bool IsRunning => Volatile.Read(ref _state) == 1 && !_stop;

    /// <summary>Starts the sampling thread.</summary>
    public void Start()
    {
        if (Interlocked.CompareExchange(ref _state, 1, 0) != 0)
            throw new InvalidOperationException("a PowerSampler starts once");
        _thread = new Thread(() => Run(long.MaxValue, CancellationToken.None))
        {
            IsBackground = true,
            Name = "magneton-power-sampler",
        };
        _thread.Start();
    }

    /// <summary>Stops the thread and returns every row; rethrows the error that stopped sampling early, if any.</summary>
    public PowerSamples Stop()
    {
        _stop = true;
        Interlocked.CompareExchange(ref _state, 2, 1);
        _thread?.Join();
        Volatile.Read(ref _fault)?.Throw();
        return Snapshot();
    }

    /// <summary>A copy of the rows so far (safe while sampling).</summary>
    public PowerSamples Snapshot()
    {
        lock (_lock)
            return new PowerSamples(_t[.._count], _instant[.._count], _average[.._count], _energy[.._count]);
    }

    /// <summary>The power of a window of the rows so far (fewer than two updates inside: not valid).</summary>
    public WindowPower Measure(long fromNs, long toNs) => CounterWindow.Measure(Snapshot(), fromNs, toNs);

    /// <summary>Writes the rows so far as power.csv.</summary>
    public void WriteCsv(string path) => PowerCsv.Write(Snapshot(), path);

    /// <summary>Samples on the calling thread for <paramref name="duration"/> (by the options' clock) and returns the rows.</summary>
    public static PowerSamples Record(IEnergyCounter counter, TimeSpan duration, PowerSamplerOptions? options = null,
        CancellationToken ct = default)
    {
        using var sampler = new PowerSampler(counter, options);
        sampler._state = 2;
        long end = sampler._options.Clock() + (long)(duration.TotalMilliseconds * 1e6);
        sampler.Run(end, ct);
        ct.ThrowIfCancellationRequested();
        sampler._fault?.Throw();
        return sampler.Snapshot();
    }

    public void Dispose()
    {
        _stop = true;
        if (_thread is { IsAlive: true } t && t != Thread.CurrentThread) t.Join();
    }

    void Run(long endNs, CancellationToken ct)
    {
        var clock = _options.Clock;
        long interval = (long)(_options.Interval.TotalMilliseconds * 1e6);
        bool instant = _options.ReadInstantPower, average = _options.ReadAveragePower;
        long next = long.MinValue, last = 0;
        try
        {
            while (!_stop && !ct.IsCancellationRequested)
            {
                if (interval > 0)
                {
                    if (next != long.MinValue) WaitUntil(clock, next, ct);
                    if (_stop || ct.IsCancellationRequested) break;
                    long now = clock();
                    // On schedule: the next slot; fallen behind by more than a slot: restart from now (no burst).
                    next = next == long.MinValue || now - next > interval ? now + interval : next + interval;
                }
                long before = clock();
                long e = _counter.ReadEnergyMj();
                long after = clock();
                long pi = instant ? _counter.ReadPowerInstantMw() : -1;
                long pa = average ? _counter.ReadPowerAverageMw() : -1;
                long t = Math.Max(before + (after - before) / 2, last);
                last = t;
                if (!Append(t, pi, pa, e))
                    throw new InvalidOperationException($"the power sampler reached its limit of {_options.MaxRows} rows");
                if (after >= endNs) break;
            }
        }
        catch (Exception ex)
        {
            Volatile.Write(ref _fault, ExceptionDispatchInfo.Capture(ex));
        }
    }

    bool Append(long t, long instant, long average, long energy)
    {
        lock (_lock)
        {
            if (_count >= _options.MaxRows) return false;
            if (_count == _t.Length)
            {
                int size = (int)Math.Min((long)_count * 2, _options.MaxRows);
                Array.Resize(ref _t, size);
                Array.Resize(ref _instant, size);
                Array.Resize(ref _average, size);
                Array.Resize(ref _energy, size);
            }
            _t[_count] = t;
            _instant[_count] = instant < 0 ? -1 : instant;
            _average[_count] = average < 0 ? -1 : average;
            _energy[_count] = energy < 0 ? -1 : energy;
            _count++;
        }
        // Same rule as CounterWindow and CounterUpdates: the counter moved between two rows that both read it.
        if (energy >= 0 && _lastEnergy >= 0 && energy != _lastEnergy)
        {
            Interlocked.Exchange(ref _lastUpdateNs, t);
            Interlocked.Increment(ref _updates);
        }
        _lastEnergy = energy < 0 ? -1 : energy;
        return true;
    }

    void WaitUntil(Func<long> clock, long targetNs, CancellationToken ct)
    {
        while (!_stop && !ct.IsCancellationRequested)
        {
            long remaining = targetNs - clock();
            if (remaining <= 0) return;
            // Sleep the bulk in slices of at most 20 ms (so Stop is prompt; the scheduler's granularity is ~1 ms), yield
            // through the last stretch.
            if (remaining > 2_000_000) Thread.Sleep(TimeSpan.FromTicks(Math.Min(remaining - 1_000_000, 20_000_000) / 100));
            else Thread.Yield();
        }
    }
}
