"""magneton_probe: operator-level energy capture of a PyTorch workload, as a Magneton bundle.

The contract with a user's script is one call::

    import magneton_probe
    magneton_probe.workload(step, model=model, inputs=[ids], config={...}, replay_modules=[...])

``step`` is a callable without arguments that runs one iteration of the job (a forward pass, a training step,
a ``generate`` call) on the GPU. Run under the probe (``python -m magneton_probe --out DIR --system NAME --
script.py ...`` or ``magneton capture ...``), the call runs every capture pass right there and returns a summary
dict; run as a plain script, it calls ``step()`` once and returns its result, so the script stays runnable
without the probe. Everything else (``model``: the nn.Module(s) whose submodule paths name operators, found by
itself when omitted; ``inputs``: the tensors that are the job's inputs; ``config``: what distinguishes this
system, recorded in the bundle; ``replay_modules``: module paths also replayed whole) is optional.
See README.md.
"""
from .session import VERSION as __version__  # noqa: F401

_state = {"config": None, "result": None}


def workload(step, model=None, inputs=None, config=None, replay_modules=(), inference_mode=True):
    """Declares the job. Under the probe: captures it and returns a summary; otherwise: returns ``step()``."""
    cfg = _state["config"]
    if cfg is None:
        if inference_mode:
            try:
                import torch
                with torch.inference_mode():
                    return step()
            except ImportError:
                pass
        return step()
    if _state["result"] is not None:
        raise RuntimeError("magneton_probe.workload() was called twice; a capture records one job")
    from .session import Session
    result = Session(cfg, step, model=model, inputs=inputs, config=config, replay_modules=replay_modules,
                     inference_mode=inference_mode).capture()
    _state["result"] = result
    return result


def device():
    """Where the job should put its model and inputs: the capture's device under the probe (``--device``), else
    ``"cuda"`` where PyTorch sees a GPU and ``"cpu"`` otherwise."""
    cfg = _state["config"]
    if cfg is not None and cfg.device is not None:
        return cfg.device
    from .device import default_kind
    return default_kind()


def under_probe():
    """True while a script runs under the probe (for scripts that want to skip their own benchmarking then)."""
    return _state["config"] is not None
