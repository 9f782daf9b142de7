"""Command line of the probe.

    python -m magneton_probe --out DIR --system NAME [options] -- script.py [args...]
    python -m magneton_probe --out DIR --system NAME [options] -- -m package.module [args...]
    python -m magneton_probe finalize --out DIR --samples CSV [--keep-samples]
    python -m magneton_probe selftest [--device cuda|cpu]
    python -m magneton_probe synthetic OUTDIR [--activation gelu_new|gelu_pytorch_tanh] [--system NAME]

Exit codes: 0 captured; 1 internal error (or the script raised); 2 bad input: arguments, a missing script, a
script that never called ``magneton_probe.workload``, no CUDA device (without ``--device cpu``), no NVML when
sampling standalone, a value that cannot be fingerprinted (one line naming the value and the operator).
"""
import argparse
import os
import runpy
import sys
import traceback

USAGE = __doc__.split("\n\n")[1]


def _capture_parser():
    p = argparse.ArgumentParser(prog="python -m magneton_probe", add_help=True,
                                description="Capture a PyTorch workload as a Magneton bundle.")
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--system", required=True, help="name of the system (recorded in the bundle)")
    p.add_argument("--pair", help="name of the comparison this run belongs to (recorded only)")
    p.add_argument("--role", help="A or B (recorded only)")
    p.add_argument("--iterations", type=int, help="energy-pass iterations (default: ~0.6 s of the job, 3..60)")
    p.add_argument("--no-replay", action="store_true", help="no operator replay (power from the timeline only)")
    p.add_argument("--replay-seconds", type=float, default=0.6, help="replay window per operator (>= 0.5)")
    p.add_argument("--module-replay-seconds", type=float, default=1.0, help="replay window per module")
    p.add_argument("--replay-budget", type=float, default=240.0, help="seconds for all replays together")
    p.add_argument("--replay-repeat", type=int, default=0,
                   help="replay the N longest operators a second time (repeatability check)")
    p.add_argument("--baseline-seconds", type=float, default=2.0, help="uninstrumented baseline length")
    p.add_argument("--warmup", type=int, default=3, help="warm-up calls before the passes")
    p.add_argument("--device", choices=["cuda", "cpu"],
                   help="where the job runs: cuda (GPU energy through NVML) or cpu (no energy: matching, regions, "
                        "causes and CPU time); default cuda where PyTorch sees a GPU, else cpu")
    p.add_argument("--spectra-elements", type=int,
                   help="tensor elements that get unfolding spectra, in the order values are met (reproducible); "
                        "default 2^26 on a GPU, 2^22 on the CPU")
    p.add_argument("--warm-seconds", type=float, default=1.0,
                   help="GPU: seconds of the job at load before the baseline and energy pass")
    p.add_argument("--keep-samples", action="store_true", help="keep the raw samples.csv (standalone sampling)")
    return p


def _error(message, code=2):
    print("magneton-probe: error: " + message, file=sys.stderr)
    return code


def capture(argv):
    head = argv[:argv.index("--")] if "--" in argv else argv
    if "-h" in head or "--help" in head:
        print(USAGE)
        print(_capture_parser().format_help())
        return 0
    if "--" not in argv:
        return _error("no script: python -m magneton_probe --out DIR --system NAME -- script.py [args...]")
    cut = argv.index("--")
    opts, target = argv[:cut], argv[cut + 1:]
    try:
        args = _capture_parser().parse_args(opts)
    except SystemExit as ex:
        return 0 if ex.code == 0 else 2
    if not target:
        return _error("no script after --")
    if args.replay_seconds < 0.5:
        return _error("--replay-seconds must be at least 0.5 (the counter updates every ~100 ms)")
    # A command given as "python script.py ..." is the script's command line; the interpreter is this one.
    if os.path.basename(target[0]).startswith("python") and len(target) > 1:
        target = target[1:]
    module = None
    if target[0] == "-m":
        if len(target) < 2:
            return _error("-m needs a module name")
        module, script_args = target[1], target[2:]
        script_dir = os.getcwd()
    else:
        script = target[0]
        if not os.path.isfile(script):
            return _error("%s: no such script" % script)
        script_args = target[1:]
        script_dir = os.path.dirname(os.path.abspath(script))

    import magneton_probe
    from .session import Config, ProbeError, log
    magneton_probe._state["config"] = Config(
        args.out, args.system, pair=args.pair, role=args.role, iterations=args.iterations,
        do_replay=not args.no_replay, replay_seconds=args.replay_seconds,
        module_replay_seconds=args.module_replay_seconds, replay_budget=args.replay_budget,
        replay_repeat=args.replay_repeat, baseline_seconds=args.baseline_seconds, warmup=args.warmup,
        spectra_elements=args.spectra_elements, script_dir=script_dir, keep_samples=args.keep_samples,
        device=args.device, warm_seconds=args.warm_seconds)
    magneton_probe._state["result"] = None
    saved_argv, saved_path = sys.argv, list(sys.path)
    code = 0
    try:
        if module is not None:
            sys.argv = [module] + script_args
            sys.path.insert(0, script_dir)
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            sys.argv = [script] + script_args
            sys.path.insert(0, script_dir)
            runpy.run_path(script, run_name="__main__")
    except SystemExit as ex:
        code = ex.code if isinstance(ex.code, int) else (0 if ex.code is None else 1)
    except ProbeError as ex:
        return _error(str(ex))
    except Exception:
        traceback.print_exc()
        return _error("the script raised (see above)", 1)
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    result = magneton_probe._state["result"]
    if result is None:
        if code:
            return _error("the script exited with code %s before calling magneton_probe.workload()" % code,
                          code if code != 0 else 2)
        return _error("the script never called magneton_probe.workload(step, ...); see the probe's README")
    log("bundle written to %s: %d operators (%d aligned), %d iterations, capture overhead %+.1f%%"
        % (result["out"], result["operators"], result["aligned"], result["iterations"], result["overhead"] * 100))
    return code


def finalize_cmd(argv):
    p = argparse.ArgumentParser(prog="python -m magneton_probe finalize")
    p.add_argument("--out", required=True)
    p.add_argument("--samples", required=True)
    p.add_argument("--keep-samples", action="store_true")
    try:
        args = p.parse_args(argv)
    except SystemExit as ex:
        return 0 if ex.code == 0 else 2
    from .finalize import FinalizeError, finalize
    try:
        finalize(args.out, args.samples, keep_samples=args.keep_samples)
    except (FinalizeError, OSError, ValueError, KeyError) as ex:
        return _error("finalize %s: %s" % (args.out, ex))
    return 0


def main(argv):
    if not argv or argv[0] == "help":
        print(USAGE)
        return 0 if argv else 2
    if argv[0] == "finalize":
        return finalize_cmd(argv[1:])
    if argv[0] == "selftest":
        from .selftest import main as selftest
        return selftest(argv[1:])
    if argv[0] == "synthetic":
        from .synthetic import main as synthetic
        return synthetic(argv[1:])
    try:
        return capture(argv)
    except Exception:
        traceback.print_exc()
        return _error("internal error (see above)", 1)


def entry():
    """The ``magneton-probe`` console script."""
    sys.exit(main(sys.argv[1:]))
