"""CPU latency of MeRino against OPT, GPT-2 and Pythia in torch and ONNX Runtime, and the accuracy of the latency costs.

Part 1 (spec section 6, the paper's latency claim, on this CPU instead of a Jetson Nano):
MeRino-52M/61M/64M built by ``mpsolve.merino_model`` against OPT-125M, OPT-350M, GPT-2-124M and
Pythia-70M instantiated from hand-written ``transformers`` configs with their published sizes
(random weights, nothing downloaded), at batch 1 with a fixed number of threads, in

* torch, fp32 and INT8 (``mpsolve.merino_model.quantize``, torch dynamic quantisation of every
  Linear; GPT-2's ``Conv1D`` layers are first turned into equivalent ``Linear`` layers);
* ONNX Runtime, fp32 and INT8 (``quantize_onnx``, ORT dynamic quantisation), of the same two
  graphs exported with ``torch.onnx.export`` for every model.

Two workloads, the same modules in both runtimes: prefill, a ``--seq-len``-token prompt with
the logits of the last position only (``logits_to_keep=1``, no cache); decode, one token with
``--seq-len`` positions in the KV cache (the time per generated token; the cache is reset to
``--seq-len`` positions before each call). Timing: ``mpsolve.merino_model.time_call``
(``torch.utils.benchmark.Timer.blocked_autorange``), median of the blocks with its IQR; entries
whose IQR exceeds 10 % of the median are marked noisy. Each (model, precision, runtime) runs in a
fresh process so that its memory is its own: the resident set (RSS, from /proc) of the loaded
model over the process baseline, and the peak RSS during the workloads over the same baseline.
``--design NAME=FILE`` adds a design of your own (``mpsolve design --json`` output, an architecture
JSON or a preset) to the table. The table is timed in ``--model-rounds`` round-robin rounds; the
ratio to OPT-350M of each MeRino model and design is paired within a round and reported as the
median of the rounds with every round's value, beside the ratio of the arithmetic each model does
(GFLOPs counted by ``torch.utils.flop_counter``).

Part 2: the latency costs. For each runtime and phase, profile the search space
(``profile_latency``), sample ``--mape-archs`` random architectures, time each whole model on the
same workload as ``mpsolve latency`` does (``design_latency``: in ONNX Runtime the KV-cache graph
of ``export_onnx``, kept in ``--cache`` under the architecture's digest) in ``--rounds`` round-robin
rounds, and report the MAPE of predicted against measured latency (its
median and range over the rounds) and the Spearman correlation.

``--lean`` adds ONNX Runtime's lean graph (``export_onnx(lean=True)``, prepacking off) to part 2: a
lean profile (``profile_latency(lean=True)``) checked on the same designs' lean graphs, each timed
beside its default graph in every round, and the default graph's profile on those lean timings
(the paired comparison). ``--int8`` does the same for the graphs' dynamic INT8 (``quantize_onnx``):
an INT8 profile (``profile_latency(int8=True)``) checked on the designs' INT8 graphs, paired against
the fp32 profile on those INT8 timings.

ONNX exports take minutes and need no quiet machine: ``--prepare`` writes them all to ``--cache``
and times nothing; the timed run then reuses them.

Usage:
    python benchmarks/latency.py --prepare
    python benchmarks/latency.py --threads 1 --out benchmarks/results/latency.json
    python benchmarks/latency.py --models OPT-350M --design mine=design.json --mape-archs 0
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    at_least,
    check_outputs,
    command_line,
    git_commit,
    one_line_errors,
    positive,
    write_report,
)

from mpsolve import MpsolveError  # noqa: E402
from mpsolve.utils.files import parse_data, read_text_bounded  # noqa: E402

MERINO = {"MeRino-52M": "merino-52m", "MeRino-61M": "merino-61m", "MeRino-64M": "merino-64m"}
#: published sizes of the baselines (OPT: Zhang et al. 2022; GPT-2 small; Pythia-70M)
BASELINES: dict[str, tuple[str, dict[str, Any]]] = {
    "OPT-125M": (
        "OPTConfig",
        {
            "vocab_size": 50272,
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "ffn_dim": 3072,
            "num_attention_heads": 12,
            "max_position_embeddings": 2048,
            "do_layer_norm_before": True,
            "word_embed_proj_dim": 768,
            "activation_function": "relu",
        },
    ),
    "OPT-350M": (
        "OPTConfig",
        {
            "vocab_size": 50272,
            "hidden_size": 1024,
            "num_hidden_layers": 24,
            "ffn_dim": 4096,
            "num_attention_heads": 16,
            "max_position_embeddings": 2048,
            "do_layer_norm_before": False,
            "word_embed_proj_dim": 512,
            "activation_function": "relu",
        },
    ),
    "GPT-2-124M": (
        "GPT2Config",
        {
            "vocab_size": 50257,
            "n_positions": 1024,
            "n_embd": 768,
            "n_layer": 12,
            "n_head": 12,
            "activation_function": "gelu_new",
        },
    ),
    "Pythia-70M": (
        "GPTNeoXConfig",
        {
            "vocab_size": 50304,
            "hidden_size": 512,
            "num_hidden_layers": 6,
            "num_attention_heads": 8,
            "intermediate_size": 2048,
            "max_position_embeddings": 2048,
            "use_parallel_residual": True,
            "tie_word_embeddings": False,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
        },
    ),
}
MODELS = [*MERINO, *BASELINES]
#: the paper's Jetson Nano latencies (ms, batch 1, sequence 128)
PAPER_MS = {
    "MeRino-52M": 48,
    "MeRino-61M": 77,
    "MeRino-64M": 114,
    "OPT-125M": 182,
    "OPT-350M": 559,
    "GPT-2-124M": 213,
    "Pythia-70M": 95,
}


RUNTIMES = ("torch", "onnxruntime")
#: random prompts whose last position the ONNX Runtime INT8 top-1 agreement is taken over
TOP1_PROMPTS = 16


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads, fixed for every run (default 1)")
    p.add_argument("--min-run-time", type=positive, default=1.0,
                   help="seconds timed per model and workload (default 1)")
    p.add_argument("--seq-len", type=int, default=128, help="prompt length and decode context (default 128)")
    p.add_argument(
        "--models",
        nargs="*",
        choices=MODELS,
        default=MODELS,
        metavar="MODEL",
        help=f"models to time (default all: {', '.join(MODELS)}; none skips part 1)",
    )
    p.add_argument("--design", action="append", default=[], metavar="NAME=FILE",
                   help="also time a design (a design result JSON, an architecture JSON or a preset) under NAME, "
                        "with its ratios to OPT-350M; repeatable")
    p.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES), help="runtimes (default both)")
    p.add_argument("--model-rounds", type=int, default=3,
                   help="round-robin rounds over the models of part 1; ratios are paired within a round (default 3)")
    p.add_argument("--space", default="default", type=space_file,
                   help="search space of the latency-cost check: a preset or a TOML space file (default: default)")
    p.add_argument("--mape-archs", type=at_least(0), default=20, help="random architectures for the MAPE (0 skips it)")
    p.add_argument("--rounds", type=int, default=3, help="round-robin measurement rounds of the MAPE (default 3)")
    p.add_argument("--profile-run-time", type=positive, default=0.2, help="min_run_time of the profiles (default 0.2)")
    p.add_argument("--mape-run-time", type=positive, default=0.3, help="min_run_time per model and round (default 0.3)")
    p.add_argument("--calibrate", type=at_least(0), default=8,
                   help="whole designs each profile times for its calibration (default 8; 0: none); drawn from "
                        "their own stream, never the checked designs")
    p.add_argument("--fit-intercept", action=argparse.BooleanOptionalAction, default=True,
                   help="calibration: fit a per-forward term besides the per-layer one (default; "
                        "--no-fit-intercept: the per-layer term alone)")
    p.add_argument("--lean", action="store_true",
                   help="part 2: also check a lean profile on the lean graphs (ONNX Runtime, prepacking off)")
    p.add_argument("--int8", action="store_true",
                   help="part 2: also check an INT8 profile on the graphs' dynamic INT8 (ONNX Runtime)")
    p.add_argument("--jobs", type=at_least(1), default=1,
                   help="ONNX Runtime profiles: export the components and calibration designs --cache lacks in this "
                        "many processes (profile_latency's jobs; default 1)")
    p.add_argument("--statistic", choices=("median", "min"), default="median", help="summary of timed blocks")
    p.add_argument("--seed", type=at_least(0), default=0, help="seed of weights, prompts and sampled architectures")
    p.add_argument("--cache", type=Path, default=Path("/tmp/mpsolve-latency-cache"), help="ONNX graphs kept here")
    p.add_argument("--prepare", action="store_true", help="only export the ONNX graphs into --cache")
    p.add_argument("--out", type=Path, default=None, help="write all results to this JSON file")
    p.add_argument("--md", type=Path, default=None, help="write a markdown report here")
    p.add_argument("--note", default="", help="a line about the machine's state, for the report")
    p.add_argument("--report", type=Path, default=None,
                   help="re-render a saved run's JSON (accuracy figures recomputed from its timings) into --md and "
                        "--out; times nothing")
    p.add_argument("--worker", nargs=3, metavar=("MODEL", "PRECISION", "RUNTIME"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for label in ("threads", "seq_len", "rounds", "model_rounds"):
        if getattr(args, label) < 1:
            p.error(f"--{label.replace('_', '-')} must be at least 1")
    if args.jobs > 1 and "onnxruntime" not in args.runtimes:
        p.error("--jobs exports ONNX Runtime's graphs: give --runtimes with onnxruntime")
    for flag in ("lean", "int8"):
        if getattr(args, flag) and "onnxruntime" not in args.runtimes:
            p.error(f"--{flag} is ONNX Runtime's graph: give --runtimes with onnxruntime")
        if getattr(args, flag) and not args.mape_archs:
            p.error(f"--{flag} checks a {flag} profile on part 2's designs: give --mape-archs above 0")
    try:
        args.designs = parse_designs(args.design)
    except ValueError as exc:
        p.error(str(exc))
    return args


def space_file(text: str) -> str:
    """argparse type: a search space preset or TOML file that loads (checked before any timing), as written."""
    from mpsolve.spaces import load_space

    try:
        load_space(text)
    except MpsolveError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def parse_designs(specs: list[str]) -> dict[str, dict[str, str]]:
    """``--design NAME=FILE`` options as ``{NAME: {"file", "architecture", "digest"}}`` (ValueError if bad).

    The digest (of the architecture's JSON) names the design's ONNX graphs in ``--cache``, so a
    file that now holds another design is exported afresh.
    """
    import re

    from mpsolve import MpsolveError
    from mpsolve.spaces import resolve_architecture

    designs: dict[str, dict[str, str]] = {}
    for spec in specs:
        name, sep, file = spec.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or not file:
            raise ValueError(f"--design {spec!r}: expected NAME=FILE with NAME of letters, digits, '.', '_', '-'")
        if name in MODELS or name in designs:
            raise ValueError(f"--design {spec!r}: the name {name!r} is already taken; choose another")
        try:
            architecture = resolve_architecture(file)
        except MpsolveError as exc:
            raise ValueError(f"--design {spec!r}: {exc}") from None
        designs[name] = {"file": file, "architecture": str(architecture), "digest": architecture.digest()}
    return designs


def quiet() -> None:
    """Silence the exporter's progress messages and warnings."""
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")


# -- one (model, precision, runtime) in its own process ------------------------------------------
def build_model(name: str, args: argparse.Namespace):
    """(model, is_merino, vocab size) with random weights (seed ``--seed``); a ``--design`` is MeRino."""
    import torch

    seed = args.seed
    if name in MERINO or name in args.designs:
        from mpsolve.merino_model import build

        model = build(MERINO[name] if name in MERINO else args.designs[name]["file"], seed=seed)
        return model.eval(), True, model.architecture.vocab_size
    import transformers

    config_class, kwargs = BASELINES[name]
    config = getattr(transformers, config_class)(**kwargs)
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="sdpa", dtype=torch.float32)
    return model.eval(), False, config.vocab_size


def linearize_conv1d(model) -> None:
    """Replace GPT-2's ``Conv1D`` (``x @ W + b``) by the equivalent ``nn.Linear`` so INT8 covers it."""
    import torch
    from transformers.pytorch_utils import Conv1D

    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                fan_in, fan_out = child.weight.shape
                linear = torch.nn.Linear(fan_in, fan_out)
                with torch.no_grad():
                    linear.weight.copy_(child.weight.T)
                    linear.bias.copy_(child.bias)
                setattr(parent, child_name, linear)


def workloads(model, is_merino: bool):
    """The prefill and decode-step modules of a model (the same ones are timed in torch and exported)."""
    import torch

    from mpsolve.merino_model import KVCache

    class Prefill(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.model(ids, logits_to_keep=1).logits

    class Step(torch.nn.Module):
        """One token on a cache rebuilt from ``past`` (keys and values of every layer, in turn)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, ids: torch.Tensor, past: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
            if is_merino:
                cache = KVCache()
                cache.keys, cache.values = list(past[0::2]), list(past[1::2])
                out = self.model(ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
                return (out.logits, *(t for kv in zip(cache.keys, cache.values) for t in kv))
            from transformers import DynamicCache

            cache = DynamicCache(config=self.model.config)
            for i in range(0, len(past), 2):
                cache.update(past[i], past[i + 1], i // 2)
            out = self.model(input_ids=ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
            return (out.logits, *(t for layer in cache.layers for t in (layer.keys, layer.values)))

    return Prefill().eval(), Step().eval()


def past_of(model, is_merino: bool, prompt) -> list:
    """The keys and values of every layer after the prompt."""
    cache = model(prompt, use_cache=True).past_key_values
    if is_merino:
        return [t for kv in zip(cache.keys, cache.values) for t in kv]
    return [t for layer in cache.layers for t in (layer.keys, layer.values)]


def graph_paths(name: str, precision: str, args: argparse.Namespace) -> tuple[Path, Path]:
    design = args.designs.get(name)
    stem = args.cache / f"{name}{'-' + design['digest'] if design else ''}-n{args.seq_len}-s{args.seed}"
    return Path(f"{stem}-prefill-{precision}.onnx"), Path(f"{stem}-decode-{precision}.onnx")


def export_graphs(name: str, args: argparse.Namespace) -> None:
    """The fp32 and INT8 prefill and decode graphs of a model, in ``--cache`` (kept when present)."""
    import torch

    from mpsolve.merino_model import quantize_onnx

    fp32, int8 = graph_paths(name, "fp32", args), graph_paths(name, "int8", args)
    if all(p.is_file() for p in (*fp32, *int8)):
        return
    quiet()
    model, is_merino, vocab = build_model(name, args)
    prompt = torch.randint(0, vocab, (1, args.seq_len), generator=torch.Generator().manual_seed(args.seed))
    prefill, step = workloads(model, is_merino)
    with torch.no_grad():
        past = past_of(model, is_merino, prompt)
        for module, inputs, path in ((prefill, (prompt,), fp32[0]), (step, (prompt[:, :1], past), fp32[1])):
            if not path.is_file():
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.onnx.export(module, inputs, dynamo=True, verbose=False).save(path, external_data=True)
    for source, target in zip(fp32, int8):
        if not target.is_file():
            quantize_onnx(source, target)


def worker(name: str, precision: str, runtime: str, args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch

    from mpsolve.merino_model import compare_outputs, onnx_session, quantize, time_call
    from mpsolve.merino_model._memory import reset_peak_memory, resident_memory

    quiet()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    reset_peak_memory()
    baseline = resident_memory()["VmRSS"]
    model, is_merino, vocab = build_model(name, args)
    params = sum(p.numel() for p in model.parameters())
    ids = torch.randint(0, vocab, (1, args.seq_len + 1), generator=generator)
    prompt, token = ids[:, :-1], ids[:, -1:]
    result: dict[str, Any] = {"model": name, "precision": precision, "runtime": runtime, "params_m": params / 1e6}
    with torch.inference_mode():
        past = past_of(model, is_merino, prompt)
    if runtime == "onnxruntime":
        paths = graph_paths(name, precision, args)
        feeds = [[prompt.numpy()], [token.numpy(), *(t.numpy() for t in past)]]
        del model, past
        reset_peak_memory()
        baseline = resident_memory()["VmRSS"]
        sessions = [onnx_session(path, args.threads) for path in paths]
        calls = []
        for session, feed in zip(sessions, feeds):
            named = {i.name: x for i, x in zip(session.get_inputs(), feed)}
            calls.append(lambda session=session, named=named: session.run(None, named))
        if precision == "int8":  # the prefill graphs return the last position: compare on several prompts
            reference = onnx_session(graph_paths(name, "fp32", args)[0], args.threads)
            prompts = torch.randint(0, vocab, (TOP1_PROMPTS, 1, args.seq_len), generator=generator).numpy()
            ref, got = (np.concatenate([graph.run(None, {graph.get_inputs()[0].name: x})[0] for x in prompts])
                        for graph in (reference, sessions[0]))
            result["vs_fp32"] = {"top1_agreement": float((ref.argmax(-1) == got.argmax(-1)).mean()),
                                 "max_abs_diff": float(np.abs(ref - got).max()), "prompts": TOP1_PROMPTS}
            del reference
    else:
        if precision == "int8":
            if not is_merino:
                linearize_conv1d(model)
            quantized = quantize(model, "int8")
            result["vs_fp32"] = compare_outputs(model, quantized, prompt)
            del model
            model = quantized
        prefill, step = workloads(model, is_merino)
        calls = [lambda: prefill(prompt), lambda: step(token, past)]
        if precision == "fp32":
            result["gflops"] = count_gflops(calls)
    reset_peak_memory()
    result["rss_model_mb"] = (resident_memory()["VmRSS"] - baseline) / 2**20
    with torch.inference_mode():
        for phase, call in zip(("prefill", "decode"), calls):
            result[phase] = time_call(call, args.threads, args.min_run_time)
    result["peak_mb"] = (resident_memory()["VmHWM"] - baseline) / 2**20
    return result


def count_gflops(calls: list[Any]) -> dict[str, float]:
    """GFLOPs of the prefill and decode calls, counted by ``torch.utils.flop_counter``.

    It counts the matmuls (linear layers, LM head); the CPU attention kernel is not in its table, so
    the attention products (``4 * positions * width`` per layer and query) are not in the count.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    out = {}
    for phase, call in zip(("prefill", "decode"), calls):
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            call()
        out[phase] = counter.get_total_flops() / 1e9
    return out


def run_worker(name: str, precision: str, runtime: str, argv: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, *argv, "--worker", name, precision, runtime]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{name} {precision} {runtime} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the latency costs against measurements ------------------------------------------------------
def latency_cost_check(args: argparse.Namespace) -> dict[str, Any]:
    from mpsolve.merino_model import design_latency, profile_latency
    from mpsolve.spaces import load_space

    space = load_space(args.space)
    X = space.sample(args.mape_archs, random_state=args.seed)
    out: dict[str, Any] = {"space": space.name, "architectures": [str(space.decode(x)) for x in X], "checks": []}
    batch = space.decode_batch(X)
    for runtime in args.runtimes:
        graphs = ["default", *(g for g in ("lean", "int8") if getattr(args, g) and runtime == "onnxruntime")]
        for phase in ("prefill", "decode"):
            profiles, seconds = {}, {}
            for graph in graphs:
                print(f"latency cost: {runtime}{'' if graph == 'default' else f' {graph}'} {phase} ...",
                      file=sys.stderr, flush=True)
                start = time.perf_counter()
                profiles[graph] = profile_latency(
                    space, args.seq_len, threads=args.threads, runtime=runtime, phase=phase,
                    min_run_time=args.profile_run_time, progress=False, seed=args.seed, statistic=args.statistic,
                    graph_dir=args.cache / "components", calibrate=args.calibrate, fit_intercept=args.fit_intercept,
                    jobs=args.jobs if runtime == "onnxruntime" else 1, **GRAPHS[graph])
                seconds[graph] = time.perf_counter() - start
            rounds = {graph: [[] for _ in range(args.rounds)] for graph in graphs}
            for r in range(args.rounds):  # round robin: a disturbance hits one round, not one design
                for x in X:  # as `mpsolve latency` times a design (ONNX graphs kept in --cache)
                    for graph in graphs:  # a design's lean or INT8 graph beside its default one: a drift hits both
                        rounds[graph][r].append(design_latency(
                            space.decode(x), args.seq_len, args.threads, runtime=runtime, phase=phase,
                            min_run_time=args.mape_run_time, statistic=args.statistic, seed=args.seed,
                            graph_dir=args.cache, **GRAPHS[graph]))
            for graph in graphs:
                out["checks"].append(cost_check(profiles, graph, rounds[graph], seconds[graph], batch, space, args))
    return out


#: the graphs part 2 checks a profile on, by name: ``profile_latency`` and ``design_latency``'s options
GRAPHS = {"default": {"lean": False, "int8": False}, "lean": {"lean": True, "int8": False},
          "int8": {"lean": False, "int8": True}}


def cost_check(profiles: dict[str, dict[str, Any]], graph: str, rounds: list[list[dict[str, Any]]], seconds: float,
               batch: Any, space: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The record of one profile checked on its designs' timings ``rounds`` (round, design): a lean or INT8
    profile's component sum paired against the default graph's profile's, the default's against profile
    version 2's."""
    import numpy as np

    from mpsolve.costs import latency_cost

    profile = profiles[graph]
    predicted = latency_cost(profile).evaluate(batch, space)
    components = latency_cost(profile, calibrated=False).evaluate(batch, space)
    # version 2's model (a shared layer's repeats at its warm timing), or the default graph's profile
    default = graph == "default"
    previous = latency_cost(without_repeats(profile) if default else profiles["default"], calibrated=False).evaluate(
        batch, space)
    measured = np.array([[t["ms"] for t in row] for row in rounds])  # (rounds, designs)
    return {
        "runtime": profile["runtime"],
        "phase": profile["phase"],
        **GRAPHS[graph],
        "previous": "profile version 2" if default else "the default graph's profile",
        "profile_seconds": seconds,
        "profile_noisy_entries": len(profile["noisy_entries"]),
        "profile_entries": 2 + len(profile["layers"]) + len(profile["projections"]),
        "call_overhead_ms": profile.get("call_overhead_ms"),
        "calibration": profile.get("calibration"),
        "predicted_ms": predicted.tolist(),
        "components_ms": components.tolist(),
        "previous_components_ms": previous.tolist(),
        "measured_ms": measured.tolist(),
        "measured_noisy": [[t["noisy"] for t in row] for row in rounds],
        **accuracy(predicted, components, measured, previous, args.seed),
    }


def without_repeats(profile: dict[str, Any]) -> dict[str, Any]:
    """``profile`` as version 2 read it: without the timed consecutive applications of shared layers (and
    without its calibration, fitted to them, whose bound version 2 may refuse)."""
    layers = [{k: v for k, v in r.items() if k != "repeated"} for r in profile["layers"]]
    return {**{k: v for k, v in profile.items() if k != "calibration"}, "version": 2, "layers": layers}


def accuracy(predicted: Any, components: Any, measured: Any, previous: Any = None, seed: int = 0) -> dict[str, Any]:
    """How well the predictions (calibrated, and the component sum alone) match ``measured`` ``(rounds, designs)``.

    Per round and against the median round; and against each design's fastest round, the
    estimate of the undisturbed latency that matches ``--statistic min`` (a disturbance only
    ever slows a round down). With ``previous`` (another component sum of the same designs),
    the paired comparison against the fastest round: the mean of its absolute percentage error
    minus the component sum's, with a 95 % percentile bootstrap interval, and the Wilcoxon signed-rank p.
    """
    import numpy as np
    from scipy.stats import bootstrap, spearmanr, wilcoxon

    predicted, components, measured = map(np.asarray, (predicted, components, measured))
    mape = 100 * np.mean(np.abs(predicted - measured) / measured, axis=1)
    mape_components = 100 * np.mean(np.abs(components - measured) / measured, axis=1)
    per_design = np.median(measured, axis=0)
    fastest = measured.min(axis=0)
    spread = (measured.max(axis=0) - fastest) / per_design
    paired: dict[str, Any] = {}
    if previous is not None:
        previous = np.asarray(previous)
        gain = 100 * (np.abs(previous - fastest) - np.abs(components - fastest)) / fastest
        interval = bootstrap((gain,), np.mean, confidence_level=0.95, method="percentile",
                             random_state=seed).confidence_interval
        paired = {
            "mape_previous_vs_fastest_round_percent": float(100 * np.mean(np.abs(previous - fastest) / fastest)),
            "bias_previous_vs_fastest_round_percent": float(100 * np.mean((previous - fastest) / fastest)),
            "ape_gain_vs_previous_percent": float(np.mean(gain)),
            "ape_gain_vs_previous_ci95": [float(interval.low), float(interval.high)],
            "ape_gain_vs_previous_wilcoxon_p": float(wilcoxon(gain).pvalue) if np.any(gain) else 1.0,
        }
    return {
        "mape_components_percent_by_round": mape_components.tolist(),
        "mape_components_percent": float(np.median(mape_components)),
        "mape_percent_by_round": mape.tolist(),
        "mape_percent": float(np.median(mape)),
        "mape_of_median_percent": float(100 * np.mean(np.abs(predicted - per_design) / per_design)),
        "mape_vs_fastest_round_percent": float(100 * np.mean(np.abs(predicted - fastest) / fastest)),
        "mape_components_vs_fastest_round_percent": float(100 * np.mean(np.abs(components - fastest) / fastest)),
        "bias_components_vs_fastest_round_percent": float(100 * np.mean((components - fastest) / fastest)),
        "max_ape_percent": float(100 * np.max(np.abs(predicted - per_design) / per_design)),
        "bias_percent": float(100 * np.mean((predicted - per_design) / per_design)),
        "round_spread_percent_median": float(100 * np.median(spread)),
        "spearman": float(spearmanr(predicted, per_design).statistic),
        **paired,
    }


def markdown(results: dict[str, Any]) -> str:
    """The report of a run: provenance, the baseline table, the speedups and the latency-cost accuracy."""
    import numpy as np

    s = results["settings"]
    lines = [
        "# Latency on this CPU: MeRino vs baselines, and the accuracy of the latency costs\n",
        f"Command: `{results['command']}` (commit {results['git_commit'][:10]}). {results['device']['cpu']}, "
        f"torch {results['device']['torch']}, onnxruntime {results['device'].get('onnxruntime', '-')}, "
        f"{s['threads']} thread(s). {s['note']}\n",
        f"Batch 1; prefill: {s['seq_len']}-token prompt, last-position logits; decode: one token with "
        f"{s['seq_len']} cached positions (ms per generated token). Median of the timed blocks "
        f"(torch.utils.benchmark), IQR in brackets; * marks IQR above {results['noise_threshold']:.0%} of the "
        "median (too noisy to trust). Random weights, nothing downloaded.\n",
    ]
    if results["models"]:
        rounds = s.get("model_rounds", 1)
        notes = []
        if rounds > 1:
            notes.append(f"{rounds} round-robin rounds over the table's entries, each in a fresh process: each cell is "
                         "its median round (the lower middle one for an even count; that round's IQR), the range of "
                         "the rounds in square brackets.")
        if any("gflops" in r for r in results["models"]):
            notes.append("GFLOPs: counted by `torch.utils.flop_counter` on the torch fp32 workloads (INT8 does the "
                         "same arithmetic): the matmuls of the linear layers and the LM head; it does not count the "
                         "attention products of the CPU attention kernel.")
        ort = [r["vs_fp32"] for r in results["models"] if "vs_fp32" in r and r["runtime"] == "onnxruntime"]
        if ort:
            prompts = ort[0].get("prompts")
            notes.append("INT8 top-1 agreement with fp32: over the prompt's positions in torch; in ONNX Runtime over "
                         + (f"the last position of {prompts} random prompts (the prefill graph returns no other)."
                            if prompts else "the last position only (the prefill graph returns no other), so 1 or 0."))
        if notes:
            lines.append(" ".join(notes) + "\n")
        lines += ["| model | runtime | precision | params | GFLOPs prefill / decode | prefill ms | decode ms/token | "
                  "model MB | peak MB | INT8 top-1 vs fp32 |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in results["models"]:
            cells = [f"{r[p]['ms']:.2f} ({r[p]['iqr_ms']:.2f}){' *' if r[p]['noisy'] else ''}"
                     + (f" [{min(r['rounds_ms'][p]):.2f}-{max(r['rounds_ms'][p]):.2f}]" if rounds > 1 else "")
                     for p in ("prefill", "decode")]
            flops = f"{r['gflops']['prefill']:.2f} / {r['gflops']['decode']:.3f}" if "gflops" in r else ""
            agree = f"{r['vs_fp32']['top1_agreement']:.3f}" if "vs_fp32" in r else ""
            lines.append(f"| {r['model']} | {r['runtime']} | {r['precision']} | {r['params_m']:.1f}M | {flops} | "
                         f"{cells[0]} | {cells[1]} | {r['rss_model_mb']:.0f} | {r['peak_mb']:.0f} | {agree} |")
        lines += speedup_lines(results)
    check = results["latency_cost"]
    if check:
        lines += [
            f"\n## Predicted vs measured latency, {len(check['architectures'])} random designs of space "
            f"`{check['space']}`\n",
            f"Profile: `profile_latency(min_run_time={s['profile_run_time']}, statistic={s['statistic']!r})`; "
            f"each design timed with `model_latency(min_run_time={s['mape_run_time']}, statistic={s['statistic']!r})` "
            f"in {s['rounds']} round-robin rounds. MAPE: median over the rounds (range); vs fastest: against each "
            "design's fastest round (the undisturbed latency, the estimate that matches `statistic='min'`); bias: "
            "mean signed error of the prediction against the median round. "
            + (f"The calibrated prediction (`calibrate={s['calibrate']}` whole designs per profile, drawn apart from "
               "the checked ones, fit the terms "
               + ("`ms + per_layer_ms * layers`" if s.get("fit_intercept", True) else
                  "`per_layer_ms * layers` (no intercept, `fit_intercept=False`)")
               + " the components miss) and the component "
               "sum alone (the library's default, `calibrate=0`) are in their own columns.\n"
               if s.get("calibrate") else "No calibration in this run (`calibrate=0`, the library's default): both "
               "prediction columns are the component sum.\n"),
            "| runtime | phase | calibrated MAPE % | rounds % | vs fastest % | components alone MAPE % | "
            "vs fastest % | calibration ms + per layer ms | bias % | max APE % | Spearman | noisy profile entries | "
            "noisy measurements | spread between rounds (median) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for c in check["checks"]:
            noisy = sum(map(sum, c["measured_noisy"]))
            total = sum(map(len, c["measured_noisy"]))
            cal = c.get("calibration")
            terms = f"{cal['ms']:+.2f} {cal['per_layer_ms']:+.3f}" if cal else "none"
            lines.append(
                f"| {runtime_label(c)} | {c['phase']} | {c['mape_percent']:.1f} | "
                f"{min(c['mape_percent_by_round']):.1f}-"
                f"{max(c['mape_percent_by_round']):.1f} | {c['mape_vs_fastest_round_percent']:.1f} | "
                f"{c['mape_components_percent']:.1f} | {c['mape_components_vs_fastest_round_percent']:.1f} | "
                f"{terms} | {c['bias_percent']:+.1f} | {c['max_ape_percent']:.1f} | "
                f"{c['spearman']:.3f} | {c['profile_noisy_entries']}/{c['profile_entries']} | {noisy}/{total} | "
                f"{c['round_spread_percent_median']:.1f} % |"
            )
        paired = [c for c in check["checks"] if "ape_gain_vs_previous_percent" in c]
        if paired:
            others = " or ".join(dict.fromkeys(f"{graph_of(c).replace('int8', 'INT8')} graph" for c in paired
                                               if graph_of(c) != "default")) or "lean graph"
            lines += [
                "\nThe component sum against the previous one, the same designs and timings, against each design's "
                "fastest round: profile version 2's model (a shared layer's repeats at its warm timing), or for the "
                f"{others} the default graph's profile. Gain: mean of the previous absolute percentage error minus "
                "this one (95 % percentile bootstrap interval), Wilcoxon signed-rank p.\n",
                "| runtime | phase | previous | components vs fastest % | bias % | previous vs fastest % | bias % | "
                "gain, points | Wilcoxon p |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            for c in paired:
                low, high = c["ape_gain_vs_previous_ci95"]
                lines.append(
                    f"| {runtime_label(c)} | {c['phase']} | {c.get('previous', 'profile version 2')} | "
                    f"{c['mape_components_vs_fastest_round_percent']:.1f} | "
                    f"{c['bias_components_vs_fastest_round_percent']:+.1f} | "
                    f"{c['mape_previous_vs_fastest_round_percent']:.1f} | "
                    f"{c['bias_previous_vs_fastest_round_percent']:+.1f} | {c['ape_gain_vs_previous_percent']:+.1f} "
                    f"({low:+.1f} to {high:+.1f}) | {c['ape_gain_vs_previous_wilcoxon_p']:.2g} |"
                )
        for graph, said in (("lean", "lean graph"), ("int8", "INT8 graph")):
            ratios = graph_ratios(check["checks"], graph)
            if ratios:
                lines.append(f"\nThe {said}'s measured time over the default graph's, per design (each one's fastest "
                             "round), median (range): " + "; ".join(f"{phase} {np.median(r):.3f} ({r.min():.3f}-"
                                                                     f"{r.max():.3f})" for phase, r in ratios.items())
                             + ".")
    lines.append(f"\nTotal {results['seconds'] / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def graph_ratios(checks: list[dict[str, Any]], graph: str) -> dict[str, Any]:
    """Per phase checked on the default graph and on ``graph`` (``lean`` or ``int8``): each design's timing of
    ``graph`` over its default one, fastest round of each."""
    import numpy as np

    fastest = {(c["phase"], graph_of(c)): np.min(c["measured_ms"], axis=0) for c in checks
               if c["runtime"] == "onnxruntime"}
    return {phase: fastest[phase, graph] / fastest[phase, "default"] for phase, kind in fastest
            if kind == graph and (phase, "default") in fastest}


def graph_of(check: dict[str, Any]) -> str:
    """The graph a check timed: ``default``, ``lean`` or ``int8`` (runs before ``--int8`` record lean only)."""
    return "lean" if check.get("lean") else "int8" if check.get("int8") else "default"


def runtime_label(check: dict[str, Any]) -> str:
    """A check's runtime as the report names it: ONNX Runtime's lean or INT8 graph said."""
    return check["runtime"] + {"default": "", "lean": " (lean graph)", "int8": " (INT8)"}[graph_of(check)]


# -- report ----------------------------------------------------------------------------------------
def compared(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each compared model's ratios to OPT-350M (``ratio``, ``by_round``, ``gflops_ratio``), also from a
    run that compared MeRino-64M alone under its own keys."""
    if "speedups_vs_opt350m" in results:
        return results["speedups_vs_opt350m"]
    ratio = results.get("speedup_merino64m_vs_opt350m")
    if not ratio:
        return {}
    return {"MeRino-64M": {"ratio": ratio, "by_round": results.get("speedup_by_round") or {},
                           "gflops_ratio": results.get("gflops_ratio_merino64m_vs_opt350m") or {}}}


def speedup_lines(results: dict[str, Any]) -> list[str]:
    """The report's ratios to OPT-350M of each compared model, with their rounds and the GFLOPs ratio where
    the run has them."""
    lines: list[str] = []
    params = {r["model"]: r["params_m"] for r in results["models"]}
    for model, c in compared(results).items():
        ratio, by_round, flops = c["ratio"], c["by_round"], c["gflops_ratio"]
        if not by_round:
            lines += ["", f"{model} vs OPT-350M, measured in this run (goal >= 5x): "
                      + ", ".join(f"{k.replace('_', ' ')} {v:.2f}x" for k, v in ratio.items()) + ".\n"]
            continue
        lines += ["", f"{model} vs OPT-350M (goal >= 5x): OPT-350M ms / {model} ms, paired within a round; median "
                  "of the rounds (every round's ratio).\n", "| runtime | precision | prefill | decode |",
                  "|---|---|---|---|"]
        for runtime in RUNTIMES:
            for precision in ("fp32", "int8"):
                keys = [f"{phase}_{runtime}_{precision}" for phase in ("prefill", "decode")]
                if all(k in ratio for k in keys):
                    cells = [f"{ratio[k]:.2f}x ({', '.join(f'{v:.2f}' for v in by_round[k])})" for k in keys]
                    lines.append(f"| {runtime} | {precision} | {cells[0]} | {cells[1]} |")
        if flops:
            lines.append(f"\nArithmetic, OPT-350M / {model}: matmul GFLOPs {flops['prefill']:.2f}x prefill, "
                         f"{flops['decode']:.2f}x decode; parameters {params['OPT-350M'] / params[model]:.2f}x "
                         "(the weights a decode step reads).\n")
    return lines


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\nbatch 1, prompt {args.seq_len} tokens, decode at {args.seq_len} cached tokens, {args.threads} thread(s); "
        f"median of timed blocks (IQR), {args.min_run_time:g} s per entry; * = IQR above 10 % of the median"
    )
    header = (
        f"{'model':<12} {'runtime':<11} {'prec':<5} {'params':>7} {'prefill ms':>17} {'decode ms/tok':>17} "
        f"{'model MB':>9} {'peak MB':>8} {'top-1':>6} {'paper ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        agree = f"{r['vs_fp32']['top1_agreement']:.3f}" if "vs_fp32" in r else ""
        cells = [f"{r[p]['ms']:>8.2f} ({r[p]['iqr_ms']:>5.2f}){'*' if r[p]['noisy'] else ' '}"
                 for p in ("prefill", "decode")]
        paper = PAPER_MS.get(r["model"], "") if r["precision"] == "fp32" and r["runtime"] == "torch" else ""
        print(
            f"{r['model']:<12} {r['runtime']:<11} {r['precision']:<5} {r['params_m']:>6.1f}M {cells[0]} {cells[1]} "
            f"{r['rss_model_mb']:>9.0f} {r['peak_mb']:>8.0f} {agree:>6} {paper:>8}"
        )


def merge_rounds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from the rounds of a (model, runtime, precision): each phase's timing is its median round's.

    ``rounds_ms`` keeps every round's time per phase (the speedups pair them round by round).
    """
    row = dict(runs[0])
    row["rounds_ms"] = {}
    for phase in ("prefill", "decode"):
        ordered = sorted(runs, key=lambda run: run[phase]["ms"])
        row[phase] = ordered[(len(ordered) - 1) // 2][phase]
        row["rounds_ms"][phase] = [run[phase]["ms"] for run in runs]
    row["rss_model_mb"] = max(run["rss_model_mb"] for run in runs)
    row["peak_mb"] = max(run["peak_mb"] for run in runs)
    return row


def add_flops(rows: list[dict[str, Any]]) -> None:
    """Give every row its model's GFLOPs (counted in the torch fp32 worker; INT8 does the same arithmetic)."""
    counted = {r["model"]: r["gflops"] for r in rows if "gflops" in r}
    for r in rows:
        if r["model"] in counted:
            r["gflops"] = counted[r["model"]]


def speedups(rows: list[dict[str, Any]], model: str = "MeRino-64M"
             ) -> tuple[dict[str, float], dict[str, list[float]], dict[str, float]]:
    """``model`` vs OPT-350M per cell: the median over rounds of the within-round ratio, every round's
    ratio, and the ratio of the GFLOPs each does (per phase; the same in every cell)."""
    import statistics

    by = {(r["model"], r["precision"], r["runtime"]): r for r in rows}
    median, rounds, flops = {}, {}, {}
    for runtime in RUNTIMES:
        for precision in ("fp32", "int8"):
            a, b = by.get((model, precision, runtime)), by.get(("OPT-350M", precision, runtime))
            if not (a and b):
                continue
            for phase in ("prefill", "decode"):
                key = f"{phase}_{runtime}_{precision}"
                if "rounds_ms" in a and "rounds_ms" in b:
                    rounds[key] = [y / x for x, y in zip(a["rounds_ms"][phase], b["rounds_ms"][phase])]
                    median[key] = statistics.median(rounds[key])
                else:  # a run from before the rounds
                    median[key] = b[phase]["ms"] / a[phase]["ms"]
                if "gflops" in a and "gflops" in b:
                    flops[phase] = b["gflops"][phase] / a["gflops"][phase]
    return median, rounds, flops


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, args)))
        return 0
    check_outputs({"--out": args.out, "--md": args.md},
                  {"--report": args.report, **{f"--design {n}": d["file"] for n, d in args.designs.items()}})
    if args.report:
        return rerender(args)
    names = [*args.models, *args.designs]
    if args.prepare:
        from mpsolve.merino_model import design_latency, profile_latency
        from mpsolve.spaces import load_space

        for name in names:
            print(f"exporting {name} ...", file=sys.stderr, flush=True)
            export_graphs(name, args)
        if not args.mape_archs:
            return 0
        space = load_space(args.space)
        graphs = ["default", *(g for g in ("lean", "int8") if getattr(args, g))]
        for x, graph in itertools.product(space.sample(args.mape_archs, random_state=args.seed), graphs):  # graphs
            design_latency(space.decode(x), args.seq_len, args.threads, runtime="onnxruntime", min_run_time=0.01,
                           seed=args.seed, graph_dir=args.cache, **GRAPHS[graph])
        for phase, graph in itertools.product(("prefill", "decode"), graphs):  # components (timings thrown away)
            profile_latency(space, args.seq_len, threads=args.threads, runtime="onnxruntime", phase=phase,
                            min_run_time=0.01, seed=args.seed, graph_dir=args.cache / "components",
                            calibrate=args.calibrate, jobs=args.jobs, **GRAPHS[graph])
        return 0
    passthrough = [  # the options a worker needs
        *("--threads", str(args.threads), "--min-run-time", str(args.min_run_time), "--seq-len", str(args.seq_len)),
        *("--seed", str(args.seed), "--cache", str(args.cache)),
        *(f"--design={name}={d['file']}" for name, d in args.designs.items()),
    ]
    started = time.perf_counter()
    if "onnxruntime" in args.runtimes:
        for name in names:
            export_graphs(name, args)
    entries = [(name, runtime, precision) for name in names for runtime in args.runtimes
               for precision in ("fp32", "int8")]
    timed: dict[tuple[str, str, str], list[dict[str, Any]]] = {entry: [] for entry in entries}
    for r in range(args.model_rounds):
        for name, runtime, precision in entries:
            print(f"round {r + 1}/{args.model_rounds}: timing {name} {runtime} {precision} ...", file=sys.stderr,
                  flush=True)
            timed[name, runtime, precision].append(run_worker(name, precision, runtime, passthrough))
    rows = [merge_rounds(timed[entry]) for entry in entries]
    add_flops(rows)
    if rows:
        print_table(rows, args)
    speedup = {}
    for name in names:
        ratio, ratio_rounds, flops_ratio = speedups(rows, name) if name not in BASELINES else ({}, {}, {})
        if ratio:
            speedup[name] = {"ratio": ratio, "by_round": ratio_rounds, "gflops_ratio": flops_ratio}
            print(f"\n{name} vs OPT-350M speedup, median of the rounds (goal >= 5x; the paper: MeRino-64M 559/114 = "
                  "4.9x prefill on a Jetson Nano): " + ", ".join(f"{k} {v:.2f}x" for k, v in ratio.items())
                  + "; GFLOPs ratio " + ", ".join(f"{k} {v:.2f}x" for k, v in flops_ratio.items()))
    check = None
    if args.mape_archs:
        check = latency_cost_check(args)
        for c in check["checks"]:
            print(
                f"latency cost {runtime_label(c)} {c['phase']}: MAPE {c['mape_percent']:.1f}% (rounds "
                f"{min(c['mape_percent_by_round']):.1f}-{max(c['mape_percent_by_round']):.1f}%), bias "
                f"{c['bias_percent']:+.1f}%, max {c['max_ape_percent']:.1f}%, Spearman {c['spearman']:.3f}; "
                f"{c['profile_noisy_entries']}/{c['profile_entries']} noisy profile entries"
            )
    elapsed = time.perf_counter() - started
    print(f"\ntotal {elapsed:.0f} s")
    if args.out or args.md:
        import onnxruntime
        import torch

        from mpsolve.merino_model import NOISE_THRESHOLD, device_info

        results = {
            "command": command_line("latency.py", argv),
            "git_commit": git_commit(),
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                         if k not in ("out", "md", "worker", "prepare", "report", "design", "designs")},
            "device": {**device_info(), "torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
            "noise_threshold": NOISE_THRESHOLD,
            "models": rows,
            "designs": args.designs,
            "speedups_vs_opt350m": speedup,
            "latency_cost": check,
            "seconds": elapsed,
        }
        write(results, args)
    return 0


def write(results: dict[str, Any], args: argparse.Namespace) -> None:
    """The results as JSON into ``--out`` and as a report into ``--md`` (each where given)."""
    write_report(results, args.out, args.md, markdown)


def rerender(args: argparse.Namespace) -> int:
    """``--report``: recompute the accuracy figures of a saved run from its timings and write its report."""
    if not (args.md or args.out):
        print("--report needs --md and/or --out to write to", file=sys.stderr)
        return 2
    results = parse_data(read_text_bounded(args.report, "--report"), "json", MpsolveError, str(args.report))
    refused = (f"error: --report: {str(args.report)!r} is not a run this latency.py renders ({{}}): give the --out "
               "JSON of a run of this version")
    if not isinstance(results, dict) or not isinstance(results.get("settings"), dict):
        raise SystemExit(refused.format("no settings"))
    for c in (results.get("latency_cost") or {}).get("checks", []):
        c.update(accuracy(*check_timings(c), results["settings"].get("seed", 0)))
    try:  # rendered before anything is written: a run of an earlier format lacks what the report names
        text = markdown(results)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise SystemExit(refused.format(f"{type(exc).__name__}: {exc}")) from None
    write_report(results, args.out, args.md, lambda _: text)
    return 0


def check_timings(check: Any, source: str = "--report") -> tuple[Any, ...]:
    """A saved check's predictions, component sums, timings ``(rounds, designs)`` and previous component sums (or
    ``None``), or a one-line error naming ``source``: numpy would broadcast a list of another length without a
    word."""
    import numpy as np

    keys = ("predicted_ms", "components_ms", "measured_ms", "previous_components_ms")
    values = [check.get(k) if isinstance(check, dict) else None for k in keys]
    try:
        arrays = [None if v is None else np.asarray(v, dtype=float) for v in values]
    except (TypeError, ValueError):
        arrays = []
    if len(arrays) == 4 and arrays[2] is not None and arrays[2].ndim == 2 and arrays[2].size and np.all(arrays[2] > 0):
        designs = arrays[2].shape[1]
        if all(a is not None and a.shape == (designs,) for a in arrays[:2]) and (
                arrays[3] is None or arrays[3].shape == (designs,)):
            return tuple(arrays)
    where = f"{check.get('runtime')} {check.get('phase')} " if isinstance(check, dict) else ""
    raise SystemExit(f"error: {source}: the {where}check's timings are not as latency.py writes them (one number "
                     "a design in predicted_ms, components_ms and previous_components_ms; measured_ms positive, "
                     "(rounds, designs)): give a run as it was saved")


if __name__ == "__main__":
    sys.exit(main())
