using System.Buffers;
using System.Buffers.Text;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Magneton.Core.Bundles;

namespace Magneton.Core.Traces;

/// <summary>
/// Reads a PyTorch profiler (Kineto chrome) trace, <c>.json</c> or gzip-compressed (recognised by its magic bytes,
/// whatever the name), in one streaming pass with <see cref="Utf8JsonReader"/> over a refilled buffer: the document
/// is never held whole. Tolerant of what real traces do (string pids, missing dur, events without args, float or
/// integer microseconds, nanosecond integers, hip* runtime names, cuLaunchKernel, flows instead of correlation ids);
/// strict about what makes a trace unreadable: bad compressed data, malformed JSON, a ts that is not a number. Those
/// raise a <see cref="BundleException"/> naming the file and the field.
/// </summary>
/// <remarks>
/// Depths (Utf8JsonReader.CurrentDepth) with an object at the top: members 1, events 2, event fields 3, args fields
/// 4. A bare array of events (also valid chrome trace JSON) shifts the event levels up by one.
/// </remarks>
public sealed class ProfilerTraceReader
{
    private const int InitialBuffer = 1 << 20;
    private const int MaxTokenBytes = 64 * 1024 * 1024;

    /// <summary>Microsecond values at or above this are nanoseconds (see <see cref="ProfilerTrace.NanosecondTimestamps"/>).</summary>
    private const long NanosecondThreshold = 9_000_000_000_000_000;

    private static ReadOnlySpan<byte> StepPrefix => "ProfilerStep#"u8;

    private enum Top : byte { Other, TraceEvents, DistributedInfo, DeviceProperties, DisplayTimeUnit, BaseTime, SchemaVersion }
    private enum Key : byte { Other, Ph, Cat, Name, Pid, Tid, Ts, Dur, Id, Args }
    private enum Cat : byte { None, Kind, Trace, Flow }

    private readonly string _file;
    private readonly NameTable _names = new();
    private readonly Dictionary<(int Pid, int Tid), int> _threadIds = new();
    private readonly List<TraceThread> _threads = new();
    private TraceEvent[] _events = new TraceEvent[4096];
    private int _eventCount;
    private readonly List<Flow> _flows = new();

    // Document state.
    private bool _sawRoot, _sawEvents, _rootIsArray, _inEvents;
    private int _eventDepth = 2;
    private Top _top;
    private int _deviceIndex;
    private bool _deviceKeyIsName;
    private int _distKey; // 1 rank, 2 world_size, 3 backend
    private long _entries;

    // Header fields.
    private int? _rank, _worldSize, _schemaVersion;
    private string? _backend, _deviceName, _displayTimeUnit;
    private long? _baseTimeNs;

    // Time handling.
    private bool _nanoseconds;
    private long _recordingEnd = long.MinValue;
    private long _skipped, _negativeDurations, _python;

    // The event being assembled: field order inside an event is not fixed, so decisions wait for its end.
    private bool _inEvent, _inArgs;
    private Key _key;
    private int _argKey; // 1 correlation, 2 device
    private byte _ph;
    private Cat _cat;
    private TraceEventKind _kind;
    private byte[] _name = new byte[256];
    private int _nameLength;
    private int _pid, _tid;
    private bool _hasPid, _hasTid;
    private long _ts, _dur, _correlation, _id;
    private bool _hasTs, _hasDur, _hasCorrelation, _hasId, _tsIsNs, _durIsNs;
    private int _device;
    private bool _hasDevice;
    private byte[] _scratch = new byte[256];

    private readonly record struct Flow(bool Start, int Thread, long Ts, long Id);

    private readonly InputLimits _limits;

    private ProfilerTraceReader(string file, InputLimits limits) => (_file, _limits) = (file, limits);

    /// <summary>Reads the trace at <paramref name="path"/>; errors name <paramref name="displayPath"/> (default: the path).</summary>
    public static ProfilerTrace Read(string path, string? displayPath = null, CancellationToken cancel = default, InputLimits? limits = null)
    {
        limits ??= InputLimits.Current;
        string file = displayPath ?? path;
        try
        {
            using var stream = InputFile.Open(path, file);
            long length = stream.Length;
            if (length == 0) throw new BundleException(file, "file", "is empty");
            bool gzip = IsGzip(stream);
            var reader = new ProfilerTraceReader(file, limits);
            if (!gzip)
            {
                var counted = new CountingStream(new BoundedReadStream(stream, null, file, limits));
                reader.Run(counted, cancel);
                return reader.Build(length, counted.Count);
            }

            using var inflate = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
            var decoded = new CountingStream(new BoundedReadStream(inflate, stream, file, limits));
            try
            {
                reader.Run(decoded, cancel);
            }
            catch (Exception ex) when (ex is BundleException or JsonException && decoded.ReachedEnd
                                       && GzipTrailer.Mismatch(stream, decoded.Count) is { } problem)
            {
                // A cut-short download decodes to a prefix of the JSON: blame the compression, not the JSON.
                throw new BundleException(file, "gzip", problem);
            }
            if (GzipTrailer.Mismatch(stream, decoded.Count) is { } trailer) throw new BundleException(file, "gzip", trailer);
            return reader.Build(length, decoded.Count);
        }
        catch (JsonException ex)
        {
            throw new BundleException(file, "json", "malformed JSON: " + BundleErrors.OneLine(StripPosition(ex.Message)));
        }
        catch (Exception ex) when (ex is not (BundleException or OperationCanceledException) && BundleErrors.IsInputFailure(ex))
        {
            throw BundleErrors.From(file, ex);
        }
    }

    private static bool IsGzip(FileStream stream)
    {
        Span<byte> magic = stackalloc byte[2];
        int n = stream.Read(magic);
        stream.Seek(0, SeekOrigin.Begin);
        return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    }


    private static string StripPosition(string message)
    {
        int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }

    private void Run(Stream stream, CancellationToken cancel)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(InitialBuffer);
        try
        {
            var state = new JsonReaderState(new JsonReaderOptions { MaxDepth = 512, CommentHandling = JsonCommentHandling.Skip });
            int filled = 0;
            bool final = false;
            while (true)
            {
                cancel.ThrowIfCancellationRequested();
                while (!final && filled < buffer.Length)
                {
                    int n = stream.Read(buffer, filled, buffer.Length - filled);
                    if (n == 0) final = true;
                    else filled += n;
                }
                if (final && filled == 0 && !_sawRoot) throw new BundleException(_file, "json", "the document is empty");

                var reader = new Utf8JsonReader(buffer.AsSpan(0, filled), final, state);
                try
                {
                    while (reader.Read()) OnToken(ref reader);
                }
                catch (JsonException ex)
                {
                    throw new BundleException(_file, Where(), "malformed JSON: " + BundleErrors.OneLine(StripPosition(ex.Message)));
                }
                if (final) break;

                int consumed = (int)reader.BytesConsumed;
                state = reader.CurrentState;
                int rest = filled - consumed;
                if (consumed == 0)
                {
                    if (buffer.Length >= MaxTokenBytes)
                        throw new BundleException(_file, Where(), $"a single JSON token is larger than {MaxTokenBytes / (1024 * 1024)} MiB");
                    var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, filled).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                    continue;
                }
                buffer.AsSpan(consumed, rest).CopyTo(buffer);
                filled = rest;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        if (!_sawRoot) throw new BundleException(_file, "json", "expected a JSON object or array at the top level");
        if (!_sawEvents) throw new BundleException(_file, "traceEvents", "is missing: not a chrome/Kineto trace");
    }

    /// <summary>The innermost place being read, for error messages: an event index rather than a byte offset.</summary>
    private string Where() => _inEvent ? $"traceEvents[{_entries - 1}]" : _inEvents ? $"traceEvents[{_entries}]" : "json";

    private void OnToken(ref Utf8JsonReader r)
    {
        int depth = r.CurrentDepth;
        int e = _eventDepth;
        switch (r.TokenType)
        {
            case JsonTokenType.PropertyName:
                if (_inEvent)
                {
                    if (depth == e + 1) _key = ClassifyKey(ref r);
                    else if (depth == e + 2 && _inArgs) _argKey = r.ValueTextEquals("correlation"u8) ? 1 : r.ValueTextEquals("device"u8) ? 2 : 0;
                }
                else if (depth == 1 && !_rootIsArray) _top = ClassifyTop(ref r);
                else if (depth == 2 && _top == Top.DistributedInfo)
                    _distKey = r.ValueTextEquals("rank"u8) ? 1 : r.ValueTextEquals("world_size"u8) ? 2 : r.ValueTextEquals("backend"u8) ? 3 : 0;
                else if (depth == 3 && _top == Top.DeviceProperties) _deviceKeyIsName = _deviceIndex == 1 && r.ValueTextEquals("name"u8);
                return;

            case JsonTokenType.StartObject:
                if (depth == 0)
                {
                    _sawRoot = true;
                }
                else if (_inEvents && depth == e && !_inEvent)
                {
                    BeginEvent();
                }
                else if (_inEvent && depth == e + 1)
                {
                    _inArgs = _key == Key.Args;
                    NotATime("an object");
                }
                else if (depth == 1 && !_rootIsArray && _top == Top.TraceEvents)
                {
                    throw new BundleException(_file, "traceEvents", "expected an array of events, got an object");
                }
                else if (depth == 2 && _top == Top.DeviceProperties)
                {
                    _deviceIndex++;
                }
                return;

            case JsonTokenType.EndObject:
                if (_inEvent && depth == e) EndEvent();
                else if (_inEvent && depth == e + 1) _inArgs = false;
                return;

            case JsonTokenType.StartArray:
                if (depth == 0)
                {
                    _sawRoot = _rootIsArray = _inEvents = _sawEvents = true;
                    _eventDepth = 1;
                }
                else if (depth == 1 && !_rootIsArray && _top == Top.TraceEvents)
                {
                    _inEvents = _sawEvents = true;
                }
                else if (_inEvents && !_inEvent && depth == e)
                {
                    throw new BundleException(_file, $"traceEvents[{_entries}]", "expected an event object, got an array");
                }
                else if (_inEvent && depth == e + 1)
                {
                    NotATime("an array");
                }
                return;

            case JsonTokenType.EndArray:
                if (_inEvents && !_inEvent && depth == e - 1) _inEvents = false;
                return;

            default:
                if (_inEvent)
                {
                    if (depth == e + 1) EventValue(ref r);
                    else if (depth == e + 2 && _inArgs && _argKey != 0) ArgValue(ref r);
                }
                else if (_inEvents && depth == e)
                {
                    throw new BundleException(_file, $"traceEvents[{_entries}]", $"expected an event object, got {Describe(r.TokenType)}");
                }
                else if (depth == 0)
                {
                    throw new BundleException(_file, "json", $"expected a JSON object or array at the top level, got {Describe(r.TokenType)}");
                }
                else if (depth == 1 && !_rootIsArray) TopValue(ref r);
                else if (depth == 2 && _top == Top.DistributedInfo) DistributedValue(ref r);
                else if (depth == 3 && _top == Top.DeviceProperties && _deviceKeyIsName && r.TokenType == JsonTokenType.String)
                    _deviceName ??= r.GetString();
                return;
        }
    }

    private void NotATime(string got)
    {
        if (_key is Key.Ts or Key.Dur)
            throw new BundleException(_file, $"traceEvents[{_entries - 1}].{(_key == Key.Ts ? "ts" : "dur")}", $"expected a number of microseconds, got {got}");
    }

    private static string Describe(JsonTokenType t) => t switch
    {
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => t.ToString(),
    };

    private void TopValue(ref Utf8JsonReader r)
    {
        switch (_top)
        {
            case Top.TraceEvents:
                if (r.TokenType == JsonTokenType.Null) return; // read as "missing" at the end
                throw new BundleException(_file, "traceEvents", $"expected an array of events, got {Describe(r.TokenType)}");
            case Top.DisplayTimeUnit when r.TokenType == JsonTokenType.String:
                _displayTimeUnit = r.GetString();
                return;
            case Top.BaseTime when r.TokenType == JsonTokenType.Number:
                if (r.TryGetInt64(out long ns)) _baseTimeNs = ns;
                else if (r.TryGetDouble(out double d) && Math.Abs(d) < 9e18) _baseTimeNs = (long)d;
                return;
            case Top.SchemaVersion when r.TokenType == JsonTokenType.Number && r.TryGetInt32(out int v):
                _schemaVersion = v;
                return;
        }
    }

    private void DistributedValue(ref Utf8JsonReader r)
    {
        switch (_distKey)
        {
            case 1: _rank = SmallInt(ref r); break;
            case 2: _worldSize = SmallInt(ref r); break;
            case 3 when r.TokenType == JsonTokenType.String: _backend = r.GetString(); break;
        }
    }

    private static int? SmallInt(ref Utf8JsonReader r)
    {
        if (r.TokenType == JsonTokenType.Number && r.TryGetInt32(out int v)) return v;
        if (r.TokenType == JsonTokenType.String && int.TryParse(r.GetString(), out v)) return v;
        return null;
    }

    private void BeginEvent()
    {
        if (++_entries > _limits.MaxTraceEvents) throw _limits.TooManyEvents(_file);
        _inEvent = true;
        _inArgs = false;
        _key = Key.Other;
        _argKey = 0;
        _ph = 0;
        _cat = Cat.None;
        _kind = TraceEventKind.CpuOther;
        _nameLength = -1;
        _hasPid = _hasTid = _hasTs = _hasDur = _hasCorrelation = _hasId = _hasDevice = false;
        _tsIsNs = _durIsNs = false;
    }

    private void EventValue(ref Utf8JsonReader r)
    {
        switch (_key)
        {
            case Key.Ph:
                _ph = r.TokenType == JsonTokenType.String && r.ValueSpan.Length == 1 && !r.ValueIsEscaped ? r.ValueSpan[0] : (byte)0;
                break;
            case Key.Cat:
                if (r.TokenType == JsonTokenType.String) ClassifyCategory(Unescaped(ref r));
                break;
            case Key.Name:
                if (r.TokenType != JsonTokenType.String) break; // a nameless event is skipped at its end
                var name = Unescaped(ref r);
                if (_name.Length < name.Length) _name = new byte[Math.Max(name.Length, _name.Length * 2)];
                name.CopyTo(_name);
                _nameLength = name.Length;
                break;
            case Key.Pid:
                _hasPid = IdPart(ref r, out _pid);
                break;
            case Key.Tid:
                _hasTid = IdPart(ref r, out _tid);
                break;
            case Key.Ts:
                _hasTs = Time(ref r, "ts", out _ts, out _tsIsNs);
                break;
            case Key.Dur:
                _hasDur = Time(ref r, "dur", out _dur, out _durIsNs);
                break;
            case Key.Id:
                if (r.TokenType == JsonTokenType.Number && r.TryGetInt64(out _id)) _hasId = true;
                else if (r.TokenType == JsonTokenType.String)
                {
                    _id = long.MinValue + 1 + _names.Intern(Unescaped(ref r));
                    _hasId = true;
                }
                break;
        }
    }

    private void ArgValue(ref Utf8JsonReader r)
    {
        if (_argKey == 1)
            _hasCorrelation = r.TokenType == JsonTokenType.Number && r.TryGetInt64(out _correlation);
        else if (_argKey == 2)
            _hasDevice = r.TokenType == JsonTokenType.Number && r.TryGetInt32(out _device);
    }

    /// <summary>A ts or dur: a JSON number (or a numeric string) of microseconds; null counts as missing.</summary>
    private bool Time(ref Utf8JsonReader r, string field, out long value, out bool isNanoseconds)
    {
        value = 0;
        isNanoseconds = false;
        if (r.TokenType == JsonTokenType.Null) return false;
        ReadOnlySpan<byte> text = r.TokenType switch
        {
            JsonTokenType.Number => r.ValueSpan,
            JsonTokenType.String => Unescaped(ref r),
            _ => default,
        };
        if (r.TokenType is JsonTokenType.Number or JsonTokenType.String && TryParseTime(text, out value, out isNanoseconds)) return true;
        throw new BundleException(_file, $"traceEvents[{_entries - 1}].{field}", r.TokenType == JsonTokenType.Number
            ? "is out of range"
            : $"expected a number of microseconds, got {Describe(r.TokenType)}");
    }

    /// <summary>
    /// Decimal microseconds to integer nanoseconds without going through a double (16 significant digits sit at the
    /// edge of one). Values too large for microseconds come back as nanoseconds, flagged.
    /// </summary>
    internal static bool TryParseTime(ReadOnlySpan<byte> text, out long value, out bool isNanoseconds)
    {
        value = 0;
        isNanoseconds = false;
        int i = 0;
        bool negative = false;
        if (text.Length > 0 && (text[0] == (byte)'-' || text[0] == (byte)'+'))
        {
            negative = text[0] == (byte)'-';
            i = 1;
        }
        long whole = 0;
        int digits = 0;
        for (; i < text.Length; i++)
        {
            uint d = (uint)(text[i] - '0');
            if (d > 9) break;
            if (++digits > 18) return Slow(text, out value, out isNanoseconds);
            whole = whole * 10 + d;
        }
        if (digits == 0) return Slow(text, out value, out isNanoseconds);
        long fraction = 0;
        if (i < text.Length && text[i] == (byte)'.')
        {
            i++;
            int fractionDigits = 0;
            for (; i < text.Length; i++)
            {
                uint d = (uint)(text[i] - '0');
                if (d > 9) break;
                if (fractionDigits < 3) fraction = fraction * 10 + d;
                else if (fractionDigits == 3 && d >= 5) fraction++;
                fractionDigits++;
            }
            for (int k = Math.Min(fractionDigits, 3); k < 3; k++) fraction *= 10;
        }
        if (i < text.Length) return Slow(text, out value, out isNanoseconds); // exponent
        if (whole >= NanosecondThreshold)
        {
            isNanoseconds = true;
            value = whole + (fraction >= 500 ? 1 : 0);
        }
        else value = whole * 1000 + fraction;
        if (negative) value = -value;
        return true;
    }

    private static bool Slow(ReadOnlySpan<byte> text, out long value, out bool isNanoseconds)
    {
        value = 0;
        isNanoseconds = false;
        if (Utf8Parser.TryParse(text, out long integer, out int consumed) && consumed == text.Length)
        {
            // 19 digits: only nanoseconds are that large.
            isNanoseconds = Math.Abs(integer) >= NanosecondThreshold;
            value = isNanoseconds ? integer : integer * 1000;
            return true;
        }
        if (!Utf8Parser.TryParse(text, out double micros, out int used) || used != text.Length || !double.IsFinite(micros))
        {
            if (!Utf8Parser.TryParse(text, out micros, out used, 'E') || used != text.Length || !double.IsFinite(micros)) return false;
        }
        if (Math.Abs(micros) >= NanosecondThreshold)
        {
            if (Math.Abs(micros) > 9.2e18) return false;
            isNanoseconds = true;
            value = (long)Math.Round(micros);
            return true;
        }
        value = (long)Math.Round(micros * 1000.0);
        return true;
    }

    /// <summary>pid/tid: numbers or strings ("Spans", "Traces"); both kept as the text the trace wrote.</summary>
    private bool IdPart(ref Utf8JsonReader r, out int id)
    {
        id = 0;
        if (r.TokenType is JsonTokenType.Number) { id = _names.Intern(r.ValueSpan); return true; }
        if (r.TokenType is JsonTokenType.String) { id = _names.Intern(Unescaped(ref r)); return true; }
        return false;
    }

    private void ClassifyCategory(ReadOnlySpan<byte> c)
    {
        _cat = Cat.Kind;
        switch (c.Length)
        {
            case 6 when c.SequenceEqual("cpu_op"u8): _kind = TraceEventKind.CpuOp; return;
            case 6 when c.SequenceEqual("kernel"u8) || c.SequenceEqual("Kernel"u8): _kind = TraceEventKind.Kernel; return;
            case 15 when c.SequenceEqual("user_annotation"u8): _kind = TraceEventKind.Annotation; return;
            case 12 when c.SequenceEqual("cuda_runtime"u8): _kind = TraceEventKind.Runtime; return;
            case 11 when c.SequenceEqual("cuda_driver"u8): _kind = TraceEventKind.Driver; return;
            case 10 when c.SequenceEqual("gpu_memcpy"u8): _kind = TraceEventKind.Memcpy; return;
            case 10 when c.SequenceEqual("gpu_memset"u8): _kind = TraceEventKind.Memset; return;
            case 6 when c.SequenceEqual("Memcpy"u8): _kind = TraceEventKind.Memcpy; return;
            case 6 when c.SequenceEqual("Memset"u8): _kind = TraceEventKind.Memset; return;
            case 15 when c.SequenceEqual("python_function"u8): _kind = TraceEventKind.Python; return;
            case 19 when c.SequenceEqual("gpu_user_annotation"u8): _kind = TraceEventKind.GpuAnnotation; return;
            case 5 when c.SequenceEqual("Trace"u8): _cat = Cat.Trace; return;
            case 4 when c.SequenceEqual("ac2g"u8): _cat = Cat.Flow; return;
            case 16 when c.SequenceEqual("async_cpu_to_gpu"u8): _cat = Cat.Flow; return;
        }
        if (c.EndsWith("_runtime"u8)) _kind = TraceEventKind.Runtime;
        else if (c.EndsWith("_driver"u8)) _kind = TraceEventKind.Driver;
        else if (c.StartsWith("gpu_"u8) || c.StartsWith("cuda_sync"u8) || c.StartsWith("cuda_profiler"u8)) _kind = TraceEventKind.GpuOther;
        else _kind = TraceEventKind.CpuOther;
    }

    private void EndEvent()
    {
        _inEvent = _inArgs = false;
        switch (_ph)
        {
            case (byte)'X':
                Complete();
                return;
            case (byte)'i' or (byte)'I' or (byte)'R':
                if (_hasTs) ExtendRecording(Normalise(_ts, _tsIsNs));
                return;
            case (byte)'s' or (byte)'f' when _cat == Cat.Flow && _hasTs && _hasId && _hasPid && _hasTid:
                _flows.Add(new Flow(_ph == (byte)'s', Thread(), Normalise(_ts, _tsIsNs), _id));
                return;
        }
    }

    private void Complete()
    {
        if (!_hasTs || _nameLength < 0)
        {
            _skipped++;
            return;
        }
        long start = Normalise(_ts, _tsIsNs);
        long dur = _hasDur ? Normalise(_dur, _durIsNs) : 0;
        if (dur < 0)
        {
            _negativeDurations++;
            dur = 0;
        }
        var name = _name.AsSpan(0, _nameLength);
        // A step's own end says nothing about where recording stopped (the last step may run past it).
        if (!name.StartsWith(StepPrefix)) ExtendRecording(start + dur);
        if (_cat == Cat.Trace) return; // the profiler's own span: only its end matters
        if (_kind == TraceEventKind.Python)
        {
            // Python frames (with_stack=True) can outnumber everything else; nothing downstream uses them.
            _python++;
            return;
        }
        if (_eventCount == _events.Length) Array.Resize(ref _events, _events.Length * 2);
        _events[_eventCount++] = new TraceEvent(
            _names.Intern(name),
            _kind,
            Thread(),
            start,
            dur,
            _hasCorrelation ? _correlation : TraceEvent.NoCorrelation,
            _hasDevice ? _device : -1);
    }

    private void ExtendRecording(long end)
    {
        if (end > _recordingEnd) _recordingEnd = end;
    }

    /// <summary>
    /// Times are kept in nanoseconds. The first value too large for microseconds switches the whole trace to
    /// nanosecond units: what was read before (microseconds x 1000) is scaled back.
    /// </summary>
    private long Normalise(long value, bool isNanoseconds)
    {
        if (isNanoseconds && !_nanoseconds) SwitchToNanoseconds();
        if (_nanoseconds && !isNanoseconds) return value / 1000;
        return value;
    }

    private void SwitchToNanoseconds()
    {
        _nanoseconds = true;
        for (int i = 0; i < _eventCount; i++)
        {
            var ev = _events[i];
            _events[i] = ev with { Start = ev.Start / 1000, Duration = ev.Duration / 1000 };
        }
        for (int i = 0; i < _flows.Count; i++) _flows[i] = _flows[i] with { Ts = _flows[i].Ts / 1000 };
        if (_recordingEnd != long.MinValue) _recordingEnd /= 1000;
    }

    private int Thread()
    {
        var key = (_hasPid ? _pid : -1, _hasTid ? _tid : -1);
        if (_threadIds.TryGetValue(key, out int id)) return id;
        id = _threads.Count;
        _threadIds[key] = id;
        _threads.Add(new TraceThread(key.Item1 < 0 ? "" : _names[key.Item1], key.Item2 < 0 ? "" : _names[key.Item2]));
        return id;
    }

    private ReadOnlySpan<byte> Unescaped(ref Utf8JsonReader r)
    {
        if (!r.ValueIsEscaped) return r.ValueSpan;
        if (_scratch.Length < r.ValueSpan.Length) _scratch = new byte[Math.Max(r.ValueSpan.Length, _scratch.Length * 2)];
        int n = r.CopyString(_scratch);
        return _scratch.AsSpan(0, n);
    }

    private Key ClassifyKey(ref Utf8JsonReader r)
    {
        var k = r.ValueIsEscaped ? Unescaped(ref r) : r.ValueSpan;
        return k.Length switch
        {
            2 when k[0] == (byte)'p' && k[1] == (byte)'h' => Key.Ph,
            2 when k[0] == (byte)'t' && k[1] == (byte)'s' => Key.Ts,
            2 when k[0] == (byte)'i' && k[1] == (byte)'d' => Key.Id,
            3 when k.SequenceEqual("cat"u8) => Key.Cat,
            3 when k.SequenceEqual("pid"u8) => Key.Pid,
            3 when k.SequenceEqual("tid"u8) => Key.Tid,
            3 when k.SequenceEqual("dur"u8) => Key.Dur,
            4 when k.SequenceEqual("name"u8) => Key.Name,
            4 when k.SequenceEqual("args"u8) => Key.Args,
            _ => Key.Other,
        };
    }

    private static Top ClassifyTop(ref Utf8JsonReader r)
    {
        if (r.ValueTextEquals("traceEvents"u8)) return Top.TraceEvents;
        if (r.ValueTextEquals("distributedInfo"u8)) return Top.DistributedInfo;
        if (r.ValueTextEquals("deviceProperties"u8)) return Top.DeviceProperties;
        if (r.ValueTextEquals("displayTimeUnit"u8)) return Top.DisplayTimeUnit;
        if (r.ValueTextEquals("baseTimeNanoseconds"u8)) return Top.BaseTime;
        if (r.ValueTextEquals("schemaVersion"u8)) return Top.SchemaVersion;
        return Top.Other;
    }

    private ProfilerTrace Build(long fileBytes, long jsonBytes)
    {
        var events = _events.AsSpan(0, _eventCount).ToArray();
        long flowLinked = LinkFlows(events);
        return new ProfilerTrace
        {
            Path = _file,
            Names = _names.Strings,
            Threads = _threads,
            Events = events,
            Rank = _rank,
            WorldSize = _worldSize,
            Backend = _backend,
            DeviceName = _deviceName,
            DisplayTimeUnit = _displayTimeUnit,
            BaseTimeNanoseconds = _baseTimeNs,
            SchemaVersion = _schemaVersion,
            NanosecondTimestamps = _nanoseconds,
            EntryCount = _entries,
            SkippedEvents = _skipped,
            PythonEvents = _python,
            NegativeDurations = _negativeDurations,
            FlowLinked = flowLinked,
            RecordingEnd = _recordingEnd == long.MinValue ? 0 : _recordingEnd,
            CompressedBytes = fileBytes,
            JsonBytes = jsonBytes,
        };
    }

    /// <summary>
    /// Launches and GPU activities without args.correlation are linked by their flow events instead: a flow start
    /// ("s") on the launch's thread at its ts, a flow end ("f") on the activity's stream at its ts, sharing an id.
    /// </summary>
    private long LinkFlows(TraceEvent[] events)
    {
        if (_flows.Count == 0) return 0;
        Dictionary<(int, long), long>? starts = null, ends = null;
        long linked = 0;
        for (int i = 0; i < events.Length; i++)
        {
            var ev = events[i];
            if (ev.HasCorrelation) continue;
            bool api = TraceEventKinds.IsApiCall(ev.Kind), gpu = TraceEventKinds.IsGpuActivity(ev.Kind);
            if (!api && !gpu) continue;
            if (starts is null)
            {
                starts = new();
                ends = new();
                foreach (var f in _flows) (f.Start ? starts : ends).TryAdd((f.Thread, f.Ts), f.Id);
            }
            if ((api ? starts : ends)!.TryGetValue((ev.Thread, ev.Start), out long id))
            {
                events[i] = ev with { Correlation = id };
                linked++;
            }
        }
        return linked;
    }

    /// <summary>Strings of the trace (names, pids, tids) each stored once, looked up from UTF-8 without allocating.</summary>
    private sealed class NameTable
    {
        private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
        private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
        private readonly List<string> _strings = new();
        private char[] _chars = new char[256];

        public NameTable() => _lookup = _ids.GetAlternateLookup<ReadOnlySpan<char>>();

        public List<string> Strings => _strings;
        public string this[int id] => _strings[id];

        public int Intern(ReadOnlySpan<byte> utf8)
        {
            int max = Encoding.UTF8.GetMaxCharCount(utf8.Length);
            if (_chars.Length < max) _chars = new char[Math.Max(max, _chars.Length * 2)];
            int n = Encoding.UTF8.GetChars(utf8, _chars);
            var chars = _chars.AsSpan(0, n);
            if (_lookup.TryGetValue(chars, out int id)) return id;
            var s = new string(chars);
            id = _strings.Count;
            _strings.Add(s);
            _ids.Add(s, id);
            return id;
        }
    }

    /// <summary>Counts what is read through it and whether the end was reached.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Count { get; private set; }
        public bool ReachedEnd { get; private set; }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            int n = inner.Read(buffer);
            if (n == 0 && buffer.Length > 0) ReachedEnd = true;
            Count += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
