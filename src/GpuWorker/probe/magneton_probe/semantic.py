"""The semantic pass: every aten operator of one iteration, with its module, call stack and value fingerprints.

A ``TorchDispatchMode`` sees each operator call that reaches the Python dispatch key (under inference mode that
includes composite ops such as ``aten.linear``; the calls an op makes internally run with the mode disabled,
so they are not seen twice). For each call it records the node (``op``, ``module`` = the innermost module whose
forward is running, from global forward hooks; ``stack`` = the Python frames outside torch and this probe,
innermost first, ``file:line:function``; input/output value ids; ``mutable``/``view`` from the schema;
``aliases_updated``; the non-tensor ``args``) and fingerprints every produced tensor on its device
(:mod:`magneton_probe.fingerprint`). An in-place op mints a new value id for the tensor it wrote, and for other
live tensors sharing its storage. The pass is slow (a Python call and a host sync per op); it runs once.

The pass holds no tensor of the job: values are tracked by weak reference (a tensor freed by the job leaves the
table when it dies), so memory stays what the job itself uses. A value that cannot be fingerprinted, or whose
storage cannot be read (alias tracking needs it), fails the capture with one line naming the value and the
operator (:class:`~magneton_probe.errors.ProbeError`); only tensors without strided storage (sparse, nested) are
recorded by their identity alone, as documented, since no fingerprint is defined for them.

It also keeps, for the replay, the first call of each distinct operator signature (op, args, input
dtype/shape/stride: Core's EnergyModel.Signature) with its tensor arguments cloned at once (a later in-place
operator of the job must not change what is replayed), and the first inputs of the modules named for module
replay. Operators whose schema allows an alias of their input (``aten.to``, ``contiguous``, ``reshape``) are views
when they returned one; when their output shares no storage with any input they copied, and are replayed.

Pure helpers (frame filtering, naming) import without torch; :func:`make_mode` builds the mode class lazily.
"""
import os
import sys
import time
import weakref

from . import fingerprint as fp
from .bundle import signature
from .errors import ProbeError

STACK_LIMIT = 12
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Operators replay cannot repeat faithfully: data-dependent shapes, host synchronisation, randomness.
NO_REPLAY = ("nonzero", "_local_scalar_dense", "masked_select", "unique", "randperm", "bernoulli", "dropout",
             "item", "repeat_interleave", "index.Tensor", "rand", "multinomial", "normal", "uniform_",
             "is_nonzero", "equal", "allclose", "_assert", "record_stream", "copy_", "set_")


def dir_prefix(path):
    """A directory as a prefix that matches only paths inside it: it ends at a separator (``torch/``, so that
    ``torchvision/`` is not taken for part of torch)."""
    path = os.path.abspath(path)
    return path if path.endswith(os.sep) else path + os.sep


def short_path(filename, roots=()):
    """How a frame's file is named in stacks: from the package root for installed packages
    (``transformers/activations.py``), relative to the user's script directory, or the base name."""
    for key in ("site-packages" + os.sep, "dist-packages" + os.sep):
        i = filename.rfind(key)
        if i >= 0:
            return filename[i + len(key):]
    for root in roots:
        if filename.startswith(root):
            return filename[len(root):]
    return os.path.basename(filename)


class FrameFilter:
    """Drops frames of torch itself, of this probe and of the interpreter (``<frozen runpy>``)."""

    def __init__(self, excluded_dirs, user_roots=()):
        self.excluded = tuple(dir_prefix(d) for d in excluded_dirs)
        self.roots = tuple(dir_prefix(r) for r in user_roots)
        self.files = {}  # frame string -> absolute file name, for context.json's source lines

    def keep(self, filename):
        if filename.startswith("<"):
            return False
        return not os.path.abspath(filename).startswith(self.excluded)

    def stack(self, frame, limit=STACK_LIMIT):
        out = []
        f = frame
        while f is not None and len(out) < limit:
            fn = f.f_code.co_filename
            if self.keep(fn):
                s = "%s:%d:%s" % (short_path(fn, self.roots), f.f_lineno, f.f_code.co_name)
                self.files.setdefault(s, os.path.abspath(fn))
                out.append(s)
            f = f.f_back
        return out


def op_flags_by_name(op):
    """Fallback when a schema is unavailable: an in-place op's name ends with an underscore."""
    parts = op.split(".")
    return len(parts) > 1 and parts[1].endswith("_")


def replay_refusal(op, node, values, copied=False):
    """Why a node is not replayed on its own, or None when it can be. ``copied``: a copy-capable operator
    (alias-returning schema) whose output shares no storage with its inputs, i.e. it did copy."""
    if node["view"] and not copied:
        return "view (no GPU work of its own)"
    if node["mutable"]:
        return "in-place operator (replay would compound its writes)"
    if not node["in"] or not node["out"]:
        return "no tensor input or output"
    if any(w in op for w in NO_REPLAY):
        return "data-dependent, host-synchronising or random operator"
    if not any(values[v].get("device") == "cuda" for v in node["in"] + node["out"]):
        return "runs on the CPU"
    return None


def make_mode(torch):
    """The TorchDispatchMode class, built once torch is imported."""
    import torch.nn as nn
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    def is_mutable(func):
        try:
            return bool(func._schema.is_mutable)
        except Exception:
            return op_flags_by_name(str(func))

    def is_view(func):
        try:
            return any(r.alias_info is not None for r in func._schema.returns) and not is_mutable(func)
        except Exception:
            return False

    def scalar_args(args, kwargs):
        flat, _ = tree_flatten((args, kwargs))
        out = []
        for a in flat:
            if isinstance(a, torch.Tensor):
                out.append("T")
            elif isinstance(a, (int, float, bool, str)) or a is None:
                out.append(repr(a))
            elif isinstance(a, (torch.dtype, torch.device, torch.memory_format, torch.layout)):
                out.append(str(a))
            else:
                out.append(type(a).__name__)
        return ",".join(out)[:300]

    class SemanticMode(TorchDispatchMode):
        def __init__(self, tracker, kinds, frames, spectra_budget=None, keep_replay=True):
            super().__init__()
            self.tracker = tracker
            self.kinds = kinds
            self.frames = frames
            self.nodes = []
            self.values = {}
            self.cur = {}          # id(tensor) -> (vid, weakref to the tensor)
            self.by_storage = {}   # storage ptr -> ids of live tensors
            self.next_vid = 0
            self.spectra_budget = spectra_budget if spectra_budget is not None else fp.SpectraBudget()
            self.keep_replay = keep_replay
            self.where = ""        # the operator being recorded, for error messages
            self.replay_calls = {}  # node id -> (func, args, kwargs), first call of each signature
            self.signature_nodes = {}  # signature -> [node ids]
            self.refusals = {}  # node id -> why it is not replayed on its own

        def _storage(self, t, vid=None):
            """The tensor's storage pointer; None for tensors without strided storage (sparse, nested)."""
            if t.layout != torch.strided or getattr(t, "is_nested", False):
                return None
            try:
                return t.untyped_storage().data_ptr()
            except Exception as ex:
                raise ProbeError("value %s of %s: its storage cannot be read (alias tracking needs it): %s"
                                 % ("?" if vid is None else vid, self.where, _one_line(ex)))

        def _new_value(self, t, producer, kind):
            vid = self.next_vid
            self.next_vid += 1
            if t.layout != torch.strided or getattr(t, "is_nested", False):
                # No fingerprint is defined for these: their identity only.
                rec = {"shape": list(t.shape), "dtype": fp.dtype_name(t.dtype),
                       "stride": fp.contiguous_stride(t.shape), "numel": t.numel(), "device": t.device.type}
            else:
                try:
                    rec = fp.tensor_fingerprint(t, self.spectra_budget)
                except Exception as ex:
                    raise ProbeError("value %d (%s %s, %s of %s): fingerprint failed: %s"
                                     % (vid, fp.dtype_name(t.dtype), list(t.shape),
                                        "input" if producer is None else "output", self.where, _one_line(ex)))
            rec["kind"] = kind
            rec["producer"] = producer
            self.values[vid] = rec
            key = id(t)
            sp = self._storage(t, vid)

            def gone(_, key=key, sp=sp, mode=weakref.ref(self)):
                m = mode()
                if m is None:
                    return
                hit = m.cur.get(key)
                if hit is not None and hit[1]() is None:
                    del m.cur[key]
                    ids = m.by_storage.get(sp)
                    if ids is not None:
                        ids.discard(key)
                        if not ids:
                            del m.by_storage[sp]
            self.cur[key] = (vid, weakref.ref(t, gone))
            if sp is not None:
                self.by_storage.setdefault(sp, set()).add(key)
            return vid

        def _lookup(self, t):
            hit = self.cur.get(id(t))
            if hit is not None and hit[1]() is t:
                return hit[0]
            return self._new_value(t, None, self.kinds.kind(t, nn))

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            stack = self.frames.stack(sys._getframe(1))
            module = self.tracker.current()
            nid = len(self.nodes)
            self.where = "node %d %s" % (nid, func)
            flat_in, _ = tree_flatten((args, kwargs))
            tin = [a for a in flat_in if isinstance(a, torch.Tensor)]
            ins = [self._lookup(a) for a in tin]
            view = is_view(func)
            sargs = scalar_args(args, kwargs)
            sig = signature({"op": str(func), "args": sargs, "in": ins}, self.values) if self.keep_replay else None
            # Cloned before the call, and only for a signature not kept yet: a later in-place op of the job
            # writes these tensors, and replay must see the values of record time.
            kept = clone_tensors((args, kwargs)) if sig is not None and sig not in self.signature_nodes else None
            out = func(*args, **kwargs)
            flat_out, _ = tree_flatten(out)
            mutable = is_mutable(func)
            tout = [o for o in flat_out if isinstance(o, torch.Tensor)]
            outs = [self._new_value(o, nid, "activation") for o in tout]
            aliases = []
            if mutable:
                for o in tout:
                    for oid in list(self.by_storage.get(self._storage(o), ())):
                        hit = self.cur.get(oid)
                        t = hit[1]() if hit is not None else None
                        if oid == id(o) or t is None:
                            continue
                        if self.values[hit[0]]["producer"] == nid:
                            continue
                        aliases.append(self._new_value(t, nid, "activation"))
            node = {"id": nid, "op": str(func), "module": module, "stack": stack, "in": ins, "out": outs,
                    "mutable": mutable, "view": view, "aliases_updated": aliases,
                    "args": sargs, "trace_id": None}
            self.nodes.append(node)
            if self.keep_replay:
                copied = view and bool(tout) and not (
                    {self._storage(o) for o in tout} & {self._storage(a) for a in tin})
                reason = replay_refusal(node["op"], node, self.values, copied)
                if reason is None:
                    first = self.signature_nodes.setdefault(sig, [])
                    if not first and kept is not None:
                        self.replay_calls[nid] = (func, kept[0], kept[1])
                    first.append(nid)
                else:
                    self.refusals[nid] = reason
            self.where = ""
            return out

    return SemanticMode


def clone_tensors(tree):
    """A copy of a pytree with every strided tensor cloned with its strides (replay must see record-time values)."""
    import torch
    from torch.utils._pytree import tree_map

    def c(a):
        if isinstance(a, torch.Tensor) and a.layout == torch.strided:
            out = torch.empty_strided(a.shape, a.stride(), dtype=a.dtype, device=a.device)
            out.copy_(a)
            return out
        return a
    return tree_map(c, tree)


def _one_line(ex):
    return (type(ex).__name__ + ": " + " ".join(str(ex).split()))[:300]


class ModuleTracker:
    """Module paths from global forward hooks. Registered roots name their submodules by ``named_modules``;
    a module entered at top level that nobody registered becomes a root itself (so ``model=`` is optional).
    Modules named in ``wanted_inputs`` also get a per-module pre-hook (with kwargs) that keeps their first
    call's inputs, for module replay."""

    def __init__(self, wanted_inputs=()):
        self.names = {}
        self.stack = []
        self.roots = []       # (root name, module)
        self.handles = []
        self.input_handles = []
        self.inputs = {}      # module name -> (module, args, kwargs)
        self.wanted_inputs = set(wanted_inputs)
        self.active = False

    def add_root(self, name, model):
        if any(m is model for _, m in self.roots):
            return
        self.roots.append((name, model))
        for sub, m in model.named_modules():
            full = (name + "." + sub) if (name and sub) else (sub or name)
            self.names.setdefault(id(m), full)
        if self.active:
            self._watch(model, name)

    def _watch(self, model, root):
        for sub, m in model.named_modules():
            full = (root + "." + sub) if (root and sub) else (sub or root)
            if full in self.wanted_inputs:
                def keep(mod, args, kwargs, full=full):
                    if full not in self.inputs:
                        # Cloned now: the job's later in-place operators must not change what is replayed.
                        from torch.utils._python_dispatch import _disable_current_modes
                        with _disable_current_modes():  # the clones are the probe's, not operators of the job
                            args, kwargs = clone_tensors((args, dict(kwargs)))
                        self.inputs[full] = (mod, args, kwargs)
                self.input_handles.append(m.register_forward_pre_hook(keep, with_kwargs=True))

    def current(self):
        return self.stack[-1] if self.stack else ""

    def _pre(self, m, args):
        name = self.names.get(id(m))
        if name is None:
            if not self.stack:
                self.add_root("", m)
                name = self.names.get(id(m), "")
            else:
                name = type(m).__name__
        self.stack.append(name)

    def _post(self, m, args, out):
        if self.stack:
            self.stack.pop()

    def __enter__(self):
        from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
        self.stack.clear()
        self.active = True
        for root, model in self.roots:
            self._watch(model, root)
        self.handles.append(register_module_forward_pre_hook(self._pre))
        self.handles.append(register_module_forward_hook(self._post))
        return self

    def __exit__(self, *exc):
        for h in self.handles + self.input_handles:
            h.remove()
        self.handles.clear()
        self.input_handles.clear()
        self.stack.clear()
        self.active = False
        return False


class ValueKinds:
    """input / param / buffer / constant for a tensor the pass meets without a producer."""

    def __init__(self, tracker, inputs=None):
        self.tracker = tracker
        self.input_ids = None if inputs is None else {id(t) for t in inputs}
        self._ptrs = None

    def _sets(self):
        params, buffers, attrs = set(), set(), set()
        for _, model in self.tracker.roots:
            for t in model.parameters():
                params.add(t.data_ptr())
            for t in model.buffers():
                if t.numel():
                    buffers.add(t.data_ptr())
            for m in model.modules():
                for v in vars(m).values():
                    if hasattr(v, "data_ptr") and hasattr(v, "numel") and callable(getattr(v, "numel")):
                        try:
                            if v.numel():
                                attrs.add(v.data_ptr())
                        except Exception:
                            pass
        return params, buffers, attrs, len(self.tracker.roots)

    def kind(self, t, nn):
        if self._ptrs is None or self._ptrs[3] != len(self.tracker.roots):
            self._ptrs = self._sets()
        params, buffers, attrs, _ = self._ptrs
        ptr = t.data_ptr() if t.numel() else -1
        if isinstance(t, nn.Parameter) or ptr in params:
            return "param"
        if ptr in buffers:
            return "buffer"
        if self.input_ids is not None:
            return "input" if id(t) in self.input_ids else "constant"
        # No inputs declared: a tensor from outside the step that no module holds is an input.
        return "constant" if ptr in attrs else "input"


def run_semantic_pass(torch, run, tracker, kinds, frames, spectra_budget=None, keep_replay=True, sync=None):
    """Runs ``run`` once under the mode; returns the mode (nodes, values, replay calls) and the seconds taken."""
    Mode = make_mode(torch)
    mode = Mode(tracker, kinds, frames, spectra_budget=spectra_budget, keep_replay=keep_replay)
    t = time.time()
    with tracker:
        with mode:
            run()
    (sync or torch.cuda.synchronize)()
    mode.cur.clear()
    mode.by_storage.clear()
    return mode, time.time() - t
