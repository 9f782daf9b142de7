"""One capture: the passes run, in order, inside the user's ``magneton_probe.workload(...)`` call.

1. warm-up (3 calls) - 2. semantic pass (one call under the dispatch mode) - 3. uninstrumented baseline (~2 s)
- 4. energy pass (K calls under the profiler; alignment; mg# ranges) - 5. replay (distinct signatures, then the
named modules) - 6. context - 7. measure.json. All of it runs inside the caller's frame, so whatever the script
set up around the call (flags, autocast, inference or no-grad mode, a cuDNN setting) holds for every pass.

The NVML counter is sampled by another process for the whole capture: the .NET worker's sampler under
``magneton capture`` (``MAGNETON_SAMPLER=external``), else :mod:`magneton_probe.nvml` started here; the energies
are then filled in by :mod:`magneton_probe.finalize`. A CPU capture (``--device cpu``, :mod:`magneton_probe.device`)
samples nothing, replays nothing and writes a power.csv with its header only.
"""
import contextlib
import os
import sys
import time

from . import bundle, context, device as devices, energy, finalize, fingerprint, measure, replay, semantic
from .errors import ProbeError  # noqa: F401  (re-exported: cli and user code catch it from here)

VERSION = "0.2.0"
SAMPLES = "samples.csv"


class Config:
    def __init__(self, out, system, pair=None, role=None, iterations=None, do_replay=True,
                 replay_seconds=replay.OP_SECONDS, module_replay_seconds=replay.MODULE_SECONDS, replay_budget=240.0,
                 replay_repeat=0, baseline_seconds=2.0, warmup=3,
                 spectra_elements=None, sampler=None, script_dir=None,
                 keep_samples=False, device=None, warm_seconds=measure.WARM_SECONDS):
        self.out = os.path.abspath(out)
        self.system = system
        self.pair = pair
        self.role = role
        self.iterations = iterations
        self.do_replay = do_replay
        self.replay_seconds = replay_seconds
        self.module_replay_seconds = module_replay_seconds
        self.replay_budget = replay_budget
        self.replay_repeat = replay_repeat
        self.baseline_seconds = baseline_seconds
        self.warmup = warmup
        self.spectra_elements = spectra_elements  # None: the device's default (fingerprint.SPECTRA_BUDGET_*)
        self.device = device  # "cuda", "cpu", or None: cuda where PyTorch sees a GPU, else cpu
        self.warm_seconds = warm_seconds
        self.sampler = sampler or ("external" if os.environ.get("MAGNETON_SAMPLER") == "external" else "process")
        self.script_dir = script_dir
        self.keep_samples = keep_samples


def log(*parts):
    print("magneton-probe: " + " ".join(str(p) for p in parts), file=sys.stderr, flush=True)


def roots_of(model):
    """(name, module) pairs from a module, a list of modules or pairs, or a dict name -> module."""
    if model is None:
        return []
    if isinstance(model, dict):
        return list(model.items())
    if isinstance(model, (list, tuple)):
        out = []
        for i, m in enumerate(model):
            if isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], str):
                out.append(m)
            else:
                out.append(("" if len(model) == 1 else "model%d" % i, m))
        return out
    return [("", model)]


class Session:
    def __init__(self, cfg, step, model=None, inputs=None, config=None, replay_modules=(), inference_mode=True):
        self.cfg = cfg
        self.step = step
        self.roots = roots_of(model)
        self.inputs = None if inputs is None else list(inputs)
        # JSON-safe at once (a torch.dtype becomes "torch.float32"), not after every pass has run.
        self.config = bundle.clean(dict(config or {}))
        self.replay_modules = list(replay_modules or ())
        self.inference_mode = inference_mode

    def capture(self):
        try:
            import torch
        except ImportError as ex:
            raise ProbeError("PyTorch is not importable here (%s)" % ex)
        kind = self.cfg.device or devices.default_kind(torch)
        if kind == devices.CUDA and not torch.cuda.is_available():
            raise ProbeError("no CUDA device is visible to PyTorch; capture on the CPU with --device cpu "
                             "(no GPU energy is measured then)")
        dev = devices.Device(torch, kind)
        os.makedirs(self.cfg.out, exist_ok=True)
        if not dev.is_cuda:
            result = self._passes(torch, dev)
            with open(os.path.join(self.cfg.out, bundle.POWER), "w", encoding="utf-8") as f:
                f.write(bundle.CSV_HEADER + "\n")
            return result
        samples = os.path.join(self.cfg.out, SAMPLES)
        if self.cfg.sampler == "process":
            from . import nvml
            sampling = nvml.SamplerProcess(samples)
        else:
            sampling = contextlib.nullcontext()
        try:
            with sampling:
                result = self._passes(torch, dev)
        except Exception as ex:
            if type(ex).__name__ == "NvmlUnavailable":
                raise ProbeError(str(ex))
            raise
        if self.cfg.sampler == "process":
            finalize.finalize(self.cfg.out, samples, keep_samples=self.cfg.keep_samples)
            log("energies filled in from", SAMPLES)
        return result

    def _passes(self, torch, dev):
        cfg = self.cfg
        mode_cm = torch.inference_mode if self.inference_mode else contextlib.nullcontext
        step = self.step
        sync = dev.sync
        do_replay = cfg.do_replay and dev.is_cuda
        spectra_elements = cfg.spectra_elements if cfg.spectra_elements is not None else (
            fingerprint.SPECTRA_BUDGET_ELEMENTS if dev.is_cuda else fingerprint.SPECTRA_BUDGET_ELEMENTS_CPU)
        t_start = time.time()
        with mode_cm():
            for _ in range(cfg.warmup):
                step()
            sync()

            tracker = semantic.ModuleTracker(self.replay_modules if do_replay else ())
            for name, m in self.roots:
                tracker.add_root(name, m)
            kinds = semantic.ValueKinds(tracker, self.inputs)
            frames = semantic.FrameFilter([os.path.dirname(torch.__file__), semantic.PACKAGE_DIR],
                                          [cfg.script_dir] if cfg.script_dir else [])
            sem, sem_s = semantic.run_semantic_pass(torch, step, tracker, kinds, frames,
                                                    fingerprint.SpectraBudget(spectra_elements),
                                                    keep_replay=do_replay, sync=sync)
            nodes, values = sem.nodes, sem.values
            log("semantic pass: %d operators, %d values, %.1f s" % (len(nodes), len(values), sem_s))

            # The baseline runs back to back into the energy pass; on a GPU both start after >= 1 s at load.
            warm_s = measure.warm(step, cfg.warm_seconds, sync) if dev.is_cuda and cfg.warm_seconds > 0 else 0.0
            base = measure.baseline(step, cfg.baseline_seconds, sync)
            log("baseline: %d iterations, %.3f ms each" % (base["iterations"], base["iter_s"] * 1e3))

            k = cfg.iterations or energy.default_iterations(base["iter_s"], len(nodes))
            ep, trace = energy.run_energy_pass(torch, step, k, workdir=cfg.out, device=dev)
            alignment = energy.attribute(trace, nodes)
            ep["alignment"] = alignment.summary
            ep["overhead"] = ep["iter_s"] / base["iter_s"] - 1.0
            log("energy pass: %d iterations, %.3f ms each (%+.1f%% over the baseline); %d of %d operators aligned"
                % (k, ep["iter_s"] * 1e3, ep["overhead"] * 100, alignment.summary["aligned_nodes"], len(nodes)))
            bundle.write_trace(os.path.join(cfg.out, bundle.KINETO), trace)
            del trace

            doc = bundle.dataflow(cfg.system, nodes, values, self.config, cfg.pair, cfg.role)
            problems = bundle.check_dataflow(doc)
            if problems:
                raise RuntimeError("dataflow.json would be refused: " + "; ".join(problems[:5]))
            bundle.write_json(os.path.join(cfg.out, bundle.DATAFLOW), doc, compact=True)

            replay_s = None
            if do_replay:
                t = time.time()
                rdoc = replay.run_replay(torch, cfg.system, nodes, sem.replay_calls, sem.refusals, tracker.inputs,
                                         cfg.replay_seconds, cfg.module_replay_seconds, cfg.replay_budget,
                                         cfg.replay_repeat, log, cfg.pair, cfg.role)
                replay_s = time.time() - t
                bundle.write_json(os.path.join(cfg.out, bundle.REPLAY), rdoc)
            sem.replay_calls.clear()
            tracker.inputs.clear()

            bundle.write_json(os.path.join(cfg.out, bundle.CONTEXT),
                              context.document(torch, tracker.roots, frames.files, nodes, self.config))

        meas = {"system": cfg.system}
        if cfg.pair is not None:
            meas["pair"] = cfg.pair
        if cfg.role is not None:
            meas["role"] = cfg.role
        meas.update({"device": dev.kind, "config": self.config, "semantic_pass_s": sem_s, "warm_s": warm_s,
                     "baseline": base, "energy_pass": ep, "replay_s": replay_s, "capture_s": time.time() - t_start,
                     "probe": {"version": VERSION, "sampler": cfg.sampler if dev.is_cuda else None,
                               "inference_mode": self.inference_mode, "warmup": cfg.warmup,
                               "torch": torch.__version__, "spectra_elements": spectra_elements,
                               "gpu": dev.name() if dev.is_cuda else None,
                               "cpu": None if dev.is_cuda else dev.name(),
                               "threads": torch.get_num_threads()}})
        bundle.write_json(os.path.join(cfg.out, bundle.MEASURE), meas)
        return {"out": cfg.out, "operators": len(nodes), "aligned": alignment.summary["aligned_nodes"],
                "iterations": k, "overhead": ep["overhead"], "baseline_iter_s": base["iter_s"]}
