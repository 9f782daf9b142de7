using System.Text.Json;

namespace Magneton.Core.Bundles;

/// <summary>
/// Streams a Kineto chrome trace token by token and keeps only what the reduction needs: mg# ranges, launches with a
/// correlation id, GPU activities and a few header fields. Nothing proportional to the document is materialised, so
/// multi-gigabyte traces pass through a buffer of a megabyte.
/// </summary>
/// <remarks>
/// Utf8JsonReader cannot resume inside a token, so the reader is rebuilt over a refilled buffer from the saved
/// JsonReaderState, and all semantic state (which key we are under, the event being assembled) lives in this class.
/// Depths: root object 0, traceEvents and other top-level members 1, an event 2, its fields 3, fields of args 4.
/// </remarks>
internal sealed class TraceScanner
{
    private const string File = BundleFiles.Kineto;

    private readonly TraceTables _t = new();
    private InputLimits _limits = InputLimits.Default;

    private bool _sawRoot;
    private bool _sawTraceEvents;
    private TraceTopKey _top;
    private bool _inEvents;
    private bool _inEvent;
    private bool _inArgs;
    private bool _argIsCorrelation;
    private TraceEventKey _key;
    private int _deviceIndex;
    private bool _inFirstDevice;
    private bool _deviceKeyIsName;

    // The event being assembled. Field order inside an event object is not guaranteed, so decisions wait for its end.
    private byte _ph;
    private TraceCategory _cat;
    private long _pid, _tid, _ts, _dur, _correlation;
    private bool _hasPid, _hasTid, _hasTs, _hasDur, _hasCorrelation;
    private bool _badTs, _badDur, _badCorrelation, _badName;
    private readonly JsonText _text = new();

    /// <summary>Reads the whole document from <paramref name="tokens"/>, refusing more events than <paramref name="limits"/> allow.</summary>
    public static TraceTables Scan(JsonTokenStream tokens, CancellationToken cancel, InputLimits? limits = null)
    {
        var scanner = new TraceScanner { _limits = limits ?? InputLimits.Default };
        tokens.Place = scanner.EventPath;
        try
        {
            while (tokens.Next(out var reader))
            {
                cancel.ThrowIfCancellationRequested();
                while (reader.Read()) scanner.OnToken(ref reader);
                tokens.Advance(ref reader);
            }
        }
        catch (JsonException ex)
        {
            // Name the event being read: with a gigabyte trace a byte position alone is of little help.
            var position = BundleErrors.LineAndByte(ex);
            var where = scanner._inEvent || scanner._inEvents ? $"traceEvents[{Math.Max(0, scanner._t.EventCount - 1)}] ({position})" : position;
            throw new BundleException(File, where, "malformed JSON: " + BundleErrors.JsonProblem(ex));
        }
        if (!scanner._sawRoot) throw new BundleException(File, "$", "expected a JSON object at the top level");
        if (!scanner._sawTraceEvents) throw new BundleException(File, "traceEvents", "is missing");
        return scanner._t;
    }

    /// <summary>The token stream the scanner reads.</summary>
    public static JsonTokenStream Tokens(Stream utf8Json) => new(utf8Json, new JsonReaderOptions { MaxDepth = 256 }, File);

    private void OnToken(ref Utf8JsonReader r)
    {
        int depth = r.CurrentDepth;
        switch (r.TokenType)
        {
            case JsonTokenType.PropertyName:
                if (depth == 3)
                {
                    if (_inEvent) _key = TraceKeys.Event(_text.Of(ref r));
                    else if (_inFirstDevice) _deviceKeyIsName = r.ValueTextEquals("name"u8);
                }
                else if (depth == 4) _argIsCorrelation = _inArgs && r.ValueTextEquals("correlation"u8);
                else if (depth == 1) _top = TraceKeys.Top(ref r);
                return;

            case JsonTokenType.StartObject:
                if (depth == 2)
                {
                    if (_inEvents) BeginEvent();
                    else if (_top == TraceTopKey.DeviceProperties) _inFirstDevice = ++_deviceIndex == 1;
                }
                else if (depth == 3) _inArgs = _inEvent && _key == TraceEventKey.Args;
                else if (depth == 0) _sawRoot = true;
                else if (depth == 1 && _top == TraceTopKey.TraceEvents) throw new BundleException(File, "traceEvents", "expected an array, got an object");
                return;

            case JsonTokenType.EndObject:
                if (depth == 2)
                {
                    if (_inEvent) EndEvent();
                    _inFirstDevice = false;
                }
                else if (depth == 3) _inArgs = _argIsCorrelation = false;
                return;

            case JsonTokenType.StartArray:
                if (depth == 1 && _top == TraceTopKey.TraceEvents)
                {
                    _inEvents = true;
                    _sawTraceEvents = true;
                }
                else if (depth == 0) throw new BundleException(File, "$", "expected a JSON object at the top level, got an array");
                else if (depth == 2 && _inEvents) throw NotAnEvent("an array");
                return;

            case JsonTokenType.EndArray:
                if (depth == 1) _inEvents = false;
                return;

            default:
                if (depth == 3)
                {
                    if (_inEvent) EventValue(ref r);
                    else if (_inFirstDevice && _deviceKeyIsName && r.TokenType == JsonTokenType.String) _t.DeviceName = r.GetString();
                }
                else if (depth == 4)
                {
                    if (_inArgs && _argIsCorrelation) Correlation(ref r);
                }
                else if (depth == 2)
                {
                    if (_inEvents) throw NotAnEvent("a " + r.TokenType.ToString().ToLowerInvariant());
                }
                else if (depth == 1) TopValue(ref r);
                else if (depth == 0) throw new BundleException(File, "$", "expected a JSON object at the top level");
                return;
        }
    }

    private void TopValue(ref Utf8JsonReader r)
    {
        if (_top == TraceTopKey.TraceEvents) throw new BundleException(File, "traceEvents", $"expected an array, got {r.TokenType}");
        if (_top != TraceTopKey.BaseTime || r.TokenType == JsonTokenType.Null) return;
        if (r.TokenType == JsonTokenType.Number && r.TryGetInt64(out long ns)) _t.BaseTimeNanoseconds = ns;
        else if (r.TokenType == JsonTokenType.Number && r.TryGetDouble(out double d) && Math.Abs(d) < 9e18) _t.BaseTimeNanoseconds = (long)d;
        else throw new BundleException(File, "baseTimeNanoseconds", "expected an integer number of nanoseconds");
    }

    private void BeginEvent()
    {
        if (++_t.EventCount > _limits.MaxTraceEvents) throw _limits.TooManyEvents(File);
        _inEvent = true;
        _inArgs = _argIsCorrelation = false;
        _key = TraceEventKey.Other;
        _ph = 0;
        _cat = TraceCategory.Other;
        _text.Release();
        _hasPid = _hasTid = _hasTs = _hasDur = _hasCorrelation = false;
        _badTs = _badDur = _badCorrelation = _badName = false;
    }

    private void EventValue(ref Utf8JsonReader r)
    {
        switch (_key)
        {
            case TraceEventKey.Ph:
                _ph = TraceKeys.Phase(ref r);
                break;
            case TraceEventKey.Cat:
                _cat = r.TokenType == JsonTokenType.String ? TraceCategories.Parse(_text.Of(ref r)) : TraceCategory.Other;
                break;
            case TraceEventKey.Name:
                _badName = !_text.Hold(ref r);
                break;
            case TraceEventKey.Pid:
                _hasPid = ThreadPart(ref r, out _pid);
                break;
            case TraceEventKey.Tid:
                _hasTid = ThreadPart(ref r, out _tid);
                break;
            case TraceEventKey.Ts:
                _hasTs = r.TokenType == JsonTokenType.Number && TraceTime.TryParseMicrosAsNanos(r.ValueSpan, out _ts);
                _badTs = !_hasTs;
                break;
            case TraceEventKey.Dur:
                _hasDur = r.TokenType == JsonTokenType.Number && TraceTime.TryParseMicrosAsNanos(r.ValueSpan, out _dur);
                _badDur = !_hasDur;
                break;
        }
    }

    private void Correlation(ref Utf8JsonReader r)
    {
        _hasCorrelation = r.TokenType == JsonTokenType.Number && r.TryGetInt64(out _correlation);
        _badCorrelation = !_hasCorrelation && r.TokenType != JsonTokenType.Null;
    }

    /// <summary>Numbers stay numbers; string ids (Kineto's "Spans" pseudo-process) get ids below every real pid.</summary>
    private bool ThreadPart(ref Utf8JsonReader r, out long value)
    {
        if (r.TokenType == JsonTokenType.Number && r.TryGetInt64(out value)) return true;
        if (r.TokenType == JsonTokenType.String)
        {
            value = long.MinValue + _t.Names.Intern(_text.Of(ref r));
            return true;
        }
        value = 0;
        return false;
    }

    private void EndEvent()
    {
        _inEvent = false;
        _inArgs = false;
        if (_ph != (byte)'X') return;
        switch (_cat)
        {
            case TraceCategory.UserAnnotation:
                Annotation();
                break;
            case TraceCategory.Runtime or TraceCategory.Driver:
                if (_badCorrelation) throw Bad("args.correlation", "expected an integer correlation id");
                if (!_hasCorrelation) return;
                Require(_hasTs, _badTs, "ts");
                RequireThread();
                _t.Launches.Add(new TraceLaunch { Ts = _ts, Correlation = _correlation, Thread = _t.Thread(_pid, _tid) });
                break;
            case TraceCategory.Kernel or TraceCategory.GpuMemcpy or TraceCategory.GpuMemset:
                if (_badCorrelation) throw Bad("args.correlation", "expected an integer correlation id");
                Require(_hasTs, _badTs, "ts");
                Require(_hasDur, _badDur, "dur");
                if (_dur < 0) throw Bad("dur", "is negative");
                if (!_text.IsHeld) throw Bad("name", _badName ? "expected a string" : "is missing");
                _t.Activities.Add(new TraceActivity
                {
                    Start = _ts,
                    Duration = _dur,
                    // Unlinked activities still occupy the GPU; long.MinValue never matches a launch.
                    Correlation = _hasCorrelation ? _correlation : long.MinValue,
                    Name = _t.Names.Intern(_text.Held),
                    Sequence = _t.Activities.Count,
                    Category = _cat,
                });
                break;
        }
    }

    private void Annotation()
    {
        if (!_text.IsHeld) return;
        var name = _text.Held;
        if (name.StartsWith("mg#"u8))
        {
            if (!TryParseRangeName(name[3..], out int iteration, out int traceId, out var op))
                throw Bad("name", $"\"{Printable(name)}\" is not mg#<iteration>#<trace_id>#<op>");
            Require(_hasTs, _badTs, "ts");
            Require(_hasDur, _badDur, "dur");
            if (_dur < 0) throw Bad("dur", "is negative");
            RequireThread();
            _t.Ranges.Add(new TraceRange
            {
                Start = _ts,
                End = _ts + _dur,
                Thread = _t.Thread(_pid, _tid),
                TraceId = traceId,
                Iteration = iteration,
                OpName = _t.Names.Intern(op),
            });
        }
        else if (name.SequenceEqual("mg_sync_begin"u8))
        {
            Require(_hasTs, _badTs, "ts");
            _t.SyncBeginNs ??= _ts;
        }
        else if (name.SequenceEqual("mg_sync_end"u8))
        {
            Require(_hasTs, _badTs, "ts");
            _t.SyncEndNs ??= _ts;
        }
    }

    private static bool TryParseRangeName(ReadOnlySpan<byte> rest, out int iteration, out int traceId, out ReadOnlySpan<byte> op)
    {
        op = default;
        traceId = 0;
        return TryParseField(ref rest, out iteration) && TryParseField(ref rest, out traceId) && !(op = rest).IsEmpty;
    }

    private static bool TryParseField(ref ReadOnlySpan<byte> rest, out int value)
    {
        value = 0;
        int hash = rest.IndexOf((byte)'#');
        if (hash <= 0 || hash > 9) return false;
        foreach (byte b in rest[..hash])
        {
            if ((uint)(b - '0') > 9) return false;
            value = value * 10 + (b - '0');
        }
        rest = rest[(hash + 1)..];
        return true;
    }

    private void Require(bool has, bool bad, string field)
    {
        if (!has) throw Bad(field, bad ? "expected a number of microseconds" : "is missing");
    }

    private void RequireThread()
    {
        if (!_hasPid) throw Bad("pid", "is missing or not a number/string");
        if (!_hasTid) throw Bad("tid", "is missing or not a number/string");
    }

    /// <summary>Where a too-large token sits, for the token stream's error.</summary>
    public string EventPath() => _inEvent ? $"traceEvents[{_t.EventCount - 1}]" : "traceEvents";

    private BundleException Bad(string field, string problem) =>
        new(File, $"traceEvents[{_t.EventCount - 1}].{field}", problem);

    private BundleException NotAnEvent(string got) =>
        new(File, $"traceEvents[{_t.EventCount}]", $"expected an event object, got {got}");

    private static string Printable(ReadOnlySpan<byte> bytes)
    {
        var s = System.Text.Encoding.UTF8.GetString(bytes.Length > 80 ? bytes[..80] : bytes);
        return BundleErrors.OneLine(s.Replace('"', '\''));
    }
}
