"""Which INT8 path for PyTorch on CPU: ``torch.ao`` dynamic quantisation or ``torchao``?

PyTorch marks ``torch.ao.quantization`` deprecated in favour of ``torchao``. This measures, on
this CPU, the prefill latency (batch 1, ``--seq-len`` tokens, ``--threads`` threads, median and
IQR of ``torch.utils.benchmark.Timer.blocked_autorange``) of a MeRino preset in fp32, with
``mpsolve.merino_model.quantize`` (``torch.ao`` dynamic INT8, per channel) and with torchao's
``Int8DynamicActivationInt8WeightConfig``, and how close each INT8 model's logits are to fp32
(top-1 agreement, max relative difference; random weights of ``init_std``, so this is numerical
fidelity, not a quality measure). Needs ``pip install torchao`` (not a library dependency).

    python benchmarks/torch_int8.py --out benchmarks/results/torch_int8.json
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C  # noqa: E402


@C.one_line_errors
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="merino-52m")
    p.add_argument("--seq-len", type=C.at_least(1), default=128)
    p.add_argument("--threads", type=C.at_least(1), default=1)
    p.add_argument("--min-run-time", type=C.positive, default=3.0, help="seconds per blocked_autorange")
    p.add_argument("--out", type=Path, default=C.RESULTS / "torch_int8.json")
    args = p.parse_args(argv)
    C.check_outputs({"--out": args.out})
    try:
        import torchao
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    except ImportError:
        raise SystemExit("this benchmark needs torchao: pip install torchao") from None
    import torch
    from torch.utils.benchmark import Timer

    from mpsolve.merino_model import build, compare_outputs, quantize

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fp32 = build(args.model, seed=0).eval()
    ids = torch.randint(0, fp32.architecture.vocab_size, (1, args.seq_len))
    ao = quantize(fp32, "int8")
    tao = copy.deepcopy(fp32)
    quantize_(tao, Int8DynamicActivationInt8WeightConfig())
    rows = {}
    for name, model in (("fp32", fp32), ("torch.ao dynamic int8", ao), ("torchao int8 dyn-act/int8-weight", tao)):
        with torch.inference_mode():
            m = Timer("model(ids)", globals={"model": model, "ids": ids}, num_threads=args.threads) \
                .blocked_autorange(min_run_time=args.min_run_time)
        rows[name] = {"median_ms": m.median * 1e3, "iqr_ms": m.iqr * 1e3, "runs": len(m.times)}
        if name != "fp32":
            rows[name].update(compare_outputs(fp32, model, ids))
    result = {"command": C.command_line("torch_int8.py", argv), "git_commit": C.git_commit(),
              "torch": torch.__version__, "torchao": torchao.__version__, "model": args.model,
              "seq_len": args.seq_len, "threads": args.threads, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
              "results": rows}
    C.write_json(args.out, result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
