"""Writers of a capture bundle (format "magneton-capture/1"), pure standard library.

A bundle is a directory with dataflow.json, kineto.json.gz, power.csv, measure.json and optionally
baseline_power.csv, replay.json, replay_counter.csv, context.json (fields: docs/capture-format.md;
what the analysis requires: src/Core/Bundles/*Reader.cs). JSON is written strictly: NaN and infinities become
null (the readers take null for a non-finite statistic, and System.Text.Json refuses NaN tokens).
"""
import gzip
import json
import math
import os

FORMAT = "magneton-capture/1"
DATAFLOW = "dataflow.json"
KINETO = "kineto.json.gz"
POWER = "power.csv"
MEASURE = "measure.json"
BASELINE_POWER = "baseline_power.csv"
REPLAY = "replay.json"
REPLAY_COUNTER = "replay_counter.csv"
CONTEXT = "context.json"
REQUIRED = (DATAFLOW, KINETO, POWER, MEASURE)
OPTIONAL = (BASELINE_POWER, REPLAY, REPLAY_COUNTER, CONTEXT)
CSV_HEADER = "t_unix_ns,power_instant_mw,power_avg_mw,energy_mj"

# What Core's readers require (the rest is optional or informative).
NODE_KEYS = ("id", "op", "module", "stack", "in", "out", "mutable", "view", "aliases_updated", "args", "trace_id")
VALUE_KEYS = ("shape", "dtype", "stride", "numel", "kind", "producer")
VALUE_KINDS = ("input", "param", "buffer", "constant", "activation")
BASELINE_KEYS = ("iterations", "wall_s", "iter_s", "energy_counter_j", "iter_energy_counter_j", "window_unix_ns")
ENERGY_PASS_KEYS = ("iterations", "wall_s", "iter_s", "sync_begin_unix_ns", "sync_end_unix_ns")
REPLAY_ITEM_KEYS = ("kind", "id", "window_unix_ns", "launches", "gpu_s", "calls", "call_us")


def clean(obj):
    """A JSON-safe copy: non-finite floats -> None, tuples and sets -> lists, keys -> str, and any other object
    (a ``torch.dtype``, a device, a numpy scalar, an enum) -> its ``str()``: a workload's config may hold anything."""
    if isinstance(obj, bool) or obj is None or isinstance(obj, (str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((clean(v) for v in obj), key=repr)
    return str(obj)


def write_json(path, obj, compact=False):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        if compact:
            json.dump(clean(obj), f, separators=(",", ":"), allow_nan=False)
        else:
            json.dump(clean(obj), f, indent=1, allow_nan=False)
    os.replace(tmp, path)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def dataflow(system, nodes, values, config=None, pair=None, role=None):
    """The dataflow.json document; ``values``: {id: record}."""
    doc = {"format": FORMAT, "system": system}
    if pair is not None:
        doc["pair"] = pair
    if role is not None:
        doc["role"] = role
    doc["config"] = dict(config or {})
    doc["trace_id_note"] = ("index of this node in the energy pass: the <id> of the mg#<iteration>#<id>#<op> ranges "
                            "in kineto.json.gz and of replay operator ids; null where the energy pass ran no such "
                            "operator")
    doc["nodes"] = nodes
    doc["values"] = {str(k): v for k, v in values.items()}
    return doc


def check_dataflow(doc):
    """The checks Core's DataflowReader makes, so that the probe fails here, with a reason, instead of later."""
    problems = []
    if doc.get("format") != FORMAT:
        problems.append("format is not " + FORMAT)
    values = doc.get("values", {})
    ids, trace_ids = set(), set()
    for i, n in enumerate(doc.get("nodes", [])):
        for k in NODE_KEYS:
            if k not in n:
                problems.append("nodes[%d].%s is missing" % (i, k))
        if n.get("id") in ids:
            problems.append("nodes[%d].id %s is duplicate" % (i, n.get("id")))
        ids.add(n.get("id"))
        t = n.get("trace_id")
        if t is not None:
            if t in trace_ids:
                problems.append("nodes[%d].trace_id %s is duplicate" % (i, t))
            trace_ids.add(t)
        for field in ("in", "out", "aliases_updated"):
            for v in n.get(field, []):
                if str(v) not in values:
                    problems.append("nodes[%d].%s names value %s, not in values" % (i, field, v))
    for k, v in values.items():
        for f in VALUE_KEYS:
            if f not in v:
                problems.append("values[%s].%s is missing" % (k, f))
        if v.get("producer") is not None and v["producer"] not in ids:
            problems.append("values[%s].producer names node %s, not in nodes" % (k, v["producer"]))
        if len(v.get("stride", [])) != len(v.get("shape", [])):
            problems.append("values[%s].stride does not match the shape's rank" % k)
    return problems


def write_trace(path, trace):
    """kineto.json.gz: one gzip member (Core checks the trailer's length against the decoded bytes)."""
    tmp = path + ".tmp"
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as f:
        json.dump(clean(trace), f, separators=(",", ":"), allow_nan=False)
    os.replace(tmp, path)


def read_trace(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def signature(node, values):
    """What makes two calls of an operator cost the same per second, exactly as Core's EnergyModel.Signature:
    op | args | dtype[shape]s[stride] per tensor input."""
    parts = [node["op"], node.get("args", "")]
    for v in node["in"]:
        val = values[v] if v in values else values[str(v)]
        parts.append("%s[%s]s[%s]" % (val["dtype"], ",".join(str(x) for x in val["shape"]),
                                      ",".join(str(x) for x in val["stride"])))
    return "|".join(parts)
