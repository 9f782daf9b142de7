using System.Text.Json;

namespace Magneton.Core.Bundles;

/// <summary>The member of a trace event being read (a chrome trace event's fields that any reader uses).</summary>
internal enum TraceEventKey : byte { Other, Ph, Cat, Name, Pid, Tid, Ts, Dur, Id, Args }

/// <summary>The top-level member of a chrome trace being read.</summary>
internal enum TraceTopKey : byte { Other, TraceEvents, DistributedInfo, DeviceProperties, DisplayTimeUnit, BaseTime, SchemaVersion }

/// <summary>Key classification shared by the trace readers: by length first, so the common keys cost one compare.</summary>
internal static class TraceKeys
{
    public static TraceEventKey Event(ReadOnlySpan<byte> k) => k.Length switch
    {
        2 when k[0] == (byte)'p' && k[1] == (byte)'h' => TraceEventKey.Ph,
        2 when k[0] == (byte)'t' && k[1] == (byte)'s' => TraceEventKey.Ts,
        2 when k[0] == (byte)'i' && k[1] == (byte)'d' => TraceEventKey.Id,
        3 when k.SequenceEqual("cat"u8) => TraceEventKey.Cat,
        3 when k.SequenceEqual("pid"u8) => TraceEventKey.Pid,
        3 when k.SequenceEqual("tid"u8) => TraceEventKey.Tid,
        3 when k.SequenceEqual("dur"u8) => TraceEventKey.Dur,
        4 when k.SequenceEqual("name"u8) => TraceEventKey.Name,
        4 when k.SequenceEqual("args"u8) => TraceEventKey.Args,
        _ => TraceEventKey.Other,
    };

    /// <summary>An event's "ph": its one ASCII letter, or 0 for anything else.</summary>
    public static byte Phase(ref Utf8JsonReader r) =>
        r.TokenType == JsonTokenType.String && r.ValueSpan.Length == 1 && !r.ValueIsEscaped ? r.ValueSpan[0] : (byte)0;

    public static TraceTopKey Top(ref Utf8JsonReader r)
    {
        if (r.ValueTextEquals("traceEvents"u8)) return TraceTopKey.TraceEvents;
        if (r.ValueTextEquals("distributedInfo"u8)) return TraceTopKey.DistributedInfo;
        if (r.ValueTextEquals("deviceProperties"u8)) return TraceTopKey.DeviceProperties;
        if (r.ValueTextEquals("displayTimeUnit"u8)) return TraceTopKey.DisplayTimeUnit;
        if (r.ValueTextEquals("baseTimeNanoseconds"u8)) return TraceTopKey.BaseTime;
        if (r.ValueTextEquals("schemaVersion"u8)) return TraceTopKey.SchemaVersion;
        return TraceTopKey.Other;
    }
}
