"""context.json: what the diagnosis needs to say *why* (as the reference enrich.py did, in the same process).

- ``flags``: torch backend switches at capture time (TF32, reduced-precision reductions, cuDNN, SDPA backends,
  float32 matmul precision, determinism);
- ``modules``: module path -> fully qualified class (``transformers.activations.NewGELUActivation``);
- ``model_config``: the HF config (``to_dict()`` plus ``_attn_implementation``, the attention that actually
  ran), made JSON-safe; Core flattens nested keys (``rope_parameters.rope_type``). A model without an HF
  config gets the workload's ``config`` dict instead, or null;
- ``versions``: torch and the model libraries already imported;
- ``source``: for every stack frame in dataflow.json, the lines around it (``[line, text]``, 3 before and 3
  after), read from the file the frame really came from (the semantic pass remembers it), so no guessing of
  roots as the reference had to do.
"""
import json
import linecache
import sys

LIBRARIES = ("torch", "transformers", "torchvision", "diffusers", "accelerate", "vllm", "timm")


def flags(torch):
    b = torch.backends
    getters = {
        "torch.backends.cuda.matmul.allow_tf32": lambda: b.cuda.matmul.allow_tf32,
        "torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction":
            lambda: b.cuda.matmul.allow_bf16_reduced_precision_reduction,
        "torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction":
            lambda: b.cuda.matmul.allow_fp16_reduced_precision_reduction,
        "torch.backends.cudnn.allow_tf32": lambda: b.cudnn.allow_tf32,
        "torch.backends.cudnn.benchmark": lambda: b.cudnn.benchmark,
        "torch.backends.cudnn.deterministic": lambda: b.cudnn.deterministic,
        "torch.backends.cudnn.enabled": lambda: b.cudnn.enabled,
        "torch.backends.cuda.flash_sdp_enabled": lambda: b.cuda.flash_sdp_enabled(),
        "torch.backends.cuda.mem_efficient_sdp_enabled": lambda: b.cuda.mem_efficient_sdp_enabled(),
        "torch.backends.cuda.math_sdp_enabled": lambda: b.cuda.math_sdp_enabled(),
        "torch.get_float32_matmul_precision": lambda: torch.get_float32_matmul_precision(),
        "torch.are_deterministic_algorithms_enabled": lambda: torch.are_deterministic_algorithms_enabled(),
    }
    out = {}
    for key, get in getters.items():
        try:
            out[key] = get()
        except Exception:
            continue
    return out


def qualified(cls):
    return cls.__module__ + "." + cls.__qualname__


def module_classes(roots):
    out = {}
    for root, model in roots:
        for sub, m in model.named_modules():
            full = (root + "." + sub) if (root and sub) else (sub or root)
            out.setdefault(full, qualified(type(m)))
    return out


def json_safe(obj):
    """Objects the JSON encoder does not know become their str(); non-finite floats are nulled when written."""
    return json.loads(json.dumps(obj, default=str))


def model_config(roots, fallback=None):
    for _, model in roots:
        cfg = getattr(model, "config", None)
        if cfg is not None and hasattr(cfg, "to_dict"):
            try:
                d = cfg.to_dict()
            except Exception:
                continue
            d["_attn_implementation"] = getattr(cfg, "_attn_implementation", None)
            return json_safe(d)
    return json_safe(dict(fallback)) if fallback else None


def versions():
    out = {}
    for name in LIBRARIES:
        mod = sys.modules.get(name)
        if mod is not None:
            out[name] = str(getattr(mod, "__version__", "unknown"))
    return out


def parse_frame(frame):
    """``path:line:function`` -> (path, line, function)."""
    path, line, func = frame.rsplit(":", 2)
    return path, int(line), func


def source_lines(frames, files, around=3):
    """{frame: {"lines": [[n, text], ...]}} for each frame string, read from ``files[frame]`` (absolute path)."""
    out = {}
    for frame in frames:
        full = files.get(frame)
        if not full:
            continue
        _, line, _ = parse_frame(frame)
        lines = []
        for i in range(max(1, line - around), line + around + 1):
            s = linecache.getline(full, i)
            if s:
                lines.append([i, s.rstrip("\n")])
        out[frame] = {"lines": lines}
    return out


def stack_frames(nodes):
    seen = []
    known = set()
    for n in nodes:
        for f in n.get("stack", []):
            if f not in known:
                known.add(f)
                seen.append(f)
    return seen


def document(torch, roots, files, nodes, workload_config=None):
    return {"flags": flags(torch) if torch is not None else {},
            "modules": module_classes(roots),
            "model_config": model_config(roots, workload_config),
            "forward_source": None,
            "source": source_lines(stack_frames(nodes), files),
            "versions": versions()}
