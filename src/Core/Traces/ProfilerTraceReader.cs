using System.IO.Compression;
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
public sealed partial class ProfilerTraceReader
{
    private const int MaxTokenBytes = 64 * 1024 * 1024;

    private static ReadOnlySpan<byte> StepPrefix => "ProfilerStep#"u8;


    private readonly string _file;
    private readonly Utf8Interner _names = new();
    private readonly Utf8Interner _otherCategories = new();
    private readonly List<long> _otherCategoryCounts = new();
    private readonly Dictionary<(int Pid, int Tid), int> _threadIds = new();
    private readonly List<TraceThread> _threads = new();
    private TraceEvent[] _events = new TraceEvent[4096];
    private int _eventCount;
    private readonly List<Flow> _flows = new();

    // Document state.
    private bool _sawRoot, _sawEvents, _rootIsArray, _inEvents;
    private int _eventDepth = 2;
    private TraceTopKey _top;
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
    private TraceEventKey _key;
    private int _argKey; // 1 correlation, 2 device
    private byte _ph;
    private TraceCategory _cat;
    private TraceEventKind _kind;
    private int _pid, _tid;
    private bool _hasPid, _hasTid;
    private long _ts, _dur, _correlation, _id;
    private bool _hasTs, _hasDur, _hasCorrelation, _hasId, _tsIsNs, _durIsNs;
    private int _device;
    private bool _hasDevice;
    private readonly JsonText _text = new();

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
                using var plain = reader.Tokens(new BoundedReadStream(stream, null, file, limits));
                reader.Run(plain, cancel);
                return reader.Build(length, plain.BytesRead);
            }

            using var inflate = new GZipStream(stream, CompressionMode.Decompress, leaveOpen: true);
            using var decoded = reader.Tokens(new BoundedReadStream(inflate, stream, file, limits));
            try
            {
                reader.Run(decoded, cancel);
            }
            catch (Exception ex) when (ex is BundleException or JsonException && decoded.ReachedEnd
                                       && GzipTrailer.Mismatch(stream, decoded.BytesRead) is { } problem)
            {
                // A cut-short download decodes to a prefix of the JSON: blame the compression, not the JSON.
                throw new BundleException(file, "gzip", problem);
            }
            if (GzipTrailer.Mismatch(stream, decoded.BytesRead) is { } trailer) throw new BundleException(file, "gzip", trailer);
            return reader.Build(length, decoded.BytesRead);
        }
        catch (JsonException ex)
        {
            throw new BundleException(file, "json", "malformed JSON: " + BundleErrors.JsonProblem(ex));
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


    private JsonTokenStream Tokens(Stream stream) =>
        new(stream, new JsonReaderOptions { MaxDepth = 512, CommentHandling = JsonCommentHandling.Skip }, _file, MaxTokenBytes) { Place = Where };

    private void Run(JsonTokenStream tokens, CancellationToken cancel)
    {
        while (tokens.Next(out var reader))
        {
            cancel.ThrowIfCancellationRequested();
            if (tokens.IsEmpty) throw new BundleException(_file, "json", "the document is empty");
            try
            {
                while (reader.Read()) OnToken(ref reader);
            }
            catch (JsonException ex)
            {
                // The byte from the start of the (decompressed) document: a gigabyte trace is often one line.
                long at = tokens.Offset(reader.BytesConsumed);
                throw new BundleException(_file, Where(), $"malformed JSON after byte {at:N0}: " + BundleErrors.JsonProblem(ex));
            }
            tokens.Advance(ref reader);
        }
        if (!_sawRoot) throw new BundleException(_file, "json", "expected a JSON object or array at the top level");
        if (!_sawEvents) throw new NotATraceException(_file, "traceEvents", "is missing: not a chrome/Kineto trace");
    }

    /// <summary>The innermost place being read, for error messages: an event index rather than a byte offset.</summary>
    private string Where() => _inEvent ? $"traceEvents[{_entries - 1}]" : _inEvents ? $"traceEvents[{_entries}]" : "json";

    /// <remarks>
    /// Over 80 lines on purpose: one switch on depth and token type for every token of the document (tens of millions
    /// in a large trace), where a call per level cost measurable ingest time; each case is a few lines.
    /// </remarks>
    private void OnToken(ref Utf8JsonReader r)
    {
        int depth = r.CurrentDepth;
        int e = _eventDepth;
        switch (r.TokenType)
        {
            case JsonTokenType.PropertyName:
                if (_inEvent)
                {
                    if (depth == e + 1) _key = TraceKeys.Event(_text.Of(ref r));
                    else if (depth == e + 2 && _inArgs) _argKey = r.ValueTextEquals("correlation"u8) ? 1 : r.ValueTextEquals("device"u8) ? 2 : 0;
                }
                else if (depth == 1 && !_rootIsArray) _top = TraceKeys.Top(ref r);
                else if (depth == 2 && _top == TraceTopKey.DistributedInfo)
                    _distKey = r.ValueTextEquals("rank"u8) ? 1 : r.ValueTextEquals("world_size"u8) ? 2 : r.ValueTextEquals("backend"u8) ? 3 : 0;
                else if (depth == 3 && _top == TraceTopKey.DeviceProperties) _deviceKeyIsName = _deviceIndex == 1 && r.ValueTextEquals("name"u8);
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
                    _inArgs = _key == TraceEventKey.Args;
                    NotATime("an object");
                }
                else if (depth == 1 && !_rootIsArray && _top == TraceTopKey.TraceEvents)
                {
                    throw new BundleException(_file, "traceEvents", "expected an array of events, got an object");
                }
                else if (depth == 2 && _top == TraceTopKey.DeviceProperties)
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
                else if (depth == 1 && !_rootIsArray && _top == TraceTopKey.TraceEvents)
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
                    throw new NotATraceException(_file, "json", $"expected a JSON object or array at the top level, got {Describe(r.TokenType)}");
                }
                else if (depth == 1 && !_rootIsArray) TopValue(ref r);
                else if (depth == 2 && _top == TraceTopKey.DistributedInfo) DistributedValue(ref r);
                else if (depth == 3 && _top == TraceTopKey.DeviceProperties && _deviceKeyIsName && r.TokenType == JsonTokenType.String)
                    _deviceName ??= r.GetString();
                return;
        }
    }

    private void NotATime(string got)
    {
        if (_key is TraceEventKey.Ts or TraceEventKey.Dur)
            throw new BundleException(_file, $"traceEvents[{_entries - 1}].{(_key == TraceEventKey.Ts ? "ts" : "dur")}", $"expected a number of microseconds, got {got}");
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
            case TraceTopKey.TraceEvents:
                if (r.TokenType == JsonTokenType.Null) return; // read as "missing" at the end
                throw new BundleException(_file, "traceEvents", $"expected an array of events, got {Describe(r.TokenType)}");
            case TraceTopKey.DisplayTimeUnit when r.TokenType == JsonTokenType.String:
                _displayTimeUnit = r.GetString();
                return;
            case TraceTopKey.BaseTime when r.TokenType == JsonTokenType.Number:
                if (r.TryGetInt64(out long ns)) _baseTimeNs = ns;
                else if (r.TryGetDouble(out double d) && Math.Abs(d) < 9e18) _baseTimeNs = (long)d;
                return;
            case TraceTopKey.SchemaVersion when r.TokenType == JsonTokenType.Number && r.TryGetInt32(out int v):
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
        _key = TraceEventKey.Other;
        _argKey = 0;
        _ph = 0;
        _cat = TraceCategory.Other;
        _kind = TraceEventKind.CpuOther;
        _text.Release();
        _hasPid = _hasTid = _hasTs = _hasDur = _hasCorrelation = _hasId = _hasDevice = false;
        _tsIsNs = _durIsNs = false;
    }

    private void EventValue(ref Utf8JsonReader r)
    {
        switch (_key)
        {
            case TraceEventKey.Ph:
                _ph = TraceKeys.Phase(ref r);
                break;
            case TraceEventKey.Cat:
                if (r.TokenType == JsonTokenType.String) Category(_text.Of(ref r));
                break;
            case TraceEventKey.Name:
                _text.Hold(ref r); // an event without a string name is skipped at its end
                break;
            case TraceEventKey.Pid:
                _hasPid = IdPart(ref r, out _pid);
                break;
            case TraceEventKey.Tid:
                _hasTid = IdPart(ref r, out _tid);
                break;
            case TraceEventKey.Ts:
                _hasTs = Time(ref r, "ts", out _ts, out _tsIsNs);
                break;
            case TraceEventKey.Dur:
                _hasDur = Time(ref r, "dur", out _dur, out _durIsNs);
                break;
            case TraceEventKey.Id:
                if (r.TokenType == JsonTokenType.Number && r.TryGetInt64(out _id)) _hasId = true;
                else if (r.TokenType == JsonTokenType.String)
                {
                    _id = long.MinValue + 1 + _names.Intern(_text.Of(ref r));
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
            JsonTokenType.String => _text.Of(ref r),
            _ => default,
        };
        if (r.TokenType is JsonTokenType.Number or JsonTokenType.String && TraceTime.TryParse(text, out value, out isNanoseconds)) return true;
        throw new BundleException(_file, $"traceEvents[{_entries - 1}].{field}", r.TokenType == JsonTokenType.Number
            ? "is out of range"
            : $"expected a number of microseconds, got {Describe(r.TokenType)}");
    }

    /// <summary>pid/tid: numbers or strings ("Spans", "Traces"); both kept as the text the trace wrote.</summary>
    private bool IdPart(ref Utf8JsonReader r, out int id)
    {
        id = 0;
        if (r.TokenType is JsonTokenType.Number) { id = _names.Intern(r.ValueSpan); return true; }
        if (r.TokenType is JsonTokenType.String) { id = _names.Intern(_text.Of(ref r)); return true; }
        return false;
    }

    /// <summary>The event's category, and for a category no reader knows, its name counted (named in a note).</summary>
    private void Category(ReadOnlySpan<byte> c)
    {
        _cat = TraceCategories.Parse(c);
        _kind = _cat switch
        {
            TraceCategory.CpuOp => TraceEventKind.CpuOp,
            TraceCategory.UserAnnotation => TraceEventKind.Annotation,
            TraceCategory.Runtime => TraceEventKind.Runtime,
            TraceCategory.Driver => TraceEventKind.Driver,
            TraceCategory.Kernel => TraceEventKind.Kernel,
            TraceCategory.GpuMemcpy => TraceEventKind.Memcpy,
            TraceCategory.GpuMemset => TraceEventKind.Memset,
            TraceCategory.Python => TraceEventKind.Python,
            TraceCategory.GpuAnnotation => TraceEventKind.GpuAnnotation,
            TraceCategory.GpuOther => TraceEventKind.GpuOther,
            _ => TraceEventKind.CpuOther,
        };
        if (_cat != TraceCategory.Other) return;
        int id = _otherCategories.Intern(c);
        if (id == _otherCategoryCounts.Count) _otherCategoryCounts.Add(0);
        _otherCategoryCounts[id]++;
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
            case (byte)'s' or (byte)'f' when _cat == TraceCategory.Flow && _hasTs && _hasId && _hasPid && _hasTid:
                _flows.Add(new Flow(_ph == (byte)'s', Thread(), Normalise(_ts, _tsIsNs), _id));
                return;
        }
    }

    private void Complete()
    {
        if (!_hasTs || !_text.IsHeld)
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
        var name = _text.Held;
        // A step's own end says nothing about where recording stopped (the last step may run past it).
        if (!name.StartsWith(StepPrefix)) ExtendRecording(start + dur);
        if (_cat == TraceCategory.ProfilerSpan) return; // the profiler's own span: only its end matters
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

    private int Thread()
    {
        var key = (_hasPid ? _pid : -1, _hasTid ? _tid : -1);
        if (_threadIds.TryGetValue(key, out int id)) return id;
        id = _threads.Count;
        _threadIds[key] = id;
        _threads.Add(new TraceThread(key.Item1 < 0 ? "" : _names.GetString(key.Item1), key.Item2 < 0 ? "" : _names.GetString(key.Item2)));
        return id;
    }

}
