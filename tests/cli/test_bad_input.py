"""An adversarial battery through the CLI: every bad input is one line on stderr and exit 2 (issue 11).

Each case writes its files into a fresh folder (``{d}`` in the arguments), runs ``mpsolve``
in-process, and checks that no traceback escapes, the error is one line naming the problem,
and nothing was written where an output path was bad.
"""

from __future__ import annotations

import json

import pytest

from mpsolve.cli import main
from mpsolve.spaces import get_architecture

SPACE = "[space]\npreset = \"small\"\n"
ARCH = {"blocks": [{"embed_dim": 64, "ffn_ratio": 1.0, "layers": 1}], "vocab_size": 256, "embed_proj_dim": 64,
        "max_positions": 64, "head_dim": 32}


def _arch(**changes) -> str:
    return json.dumps({**ARCH, **changes})


def _block(**changes) -> str:
    return json.dumps({**ARCH, "blocks": [{**ARCH["blocks"][0], **changes}]})


#: (id, files {name: text}, argv, expected message)
CASES = [
    # space files
    ("space-is-a-string", {"s.toml": 'space = "paper"\n'}, ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"],
     "must be a table"),
    ("space-400-digits", {"s.toml": SPACE + "num_blocks = " + "9" * 400 + "\n"},
     ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"], "400 digits"),
    ("space-int64-max", {"s.toml": SPACE + "num_blocks = 9223372036854775807\n"},
     ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"], "largest supported"),
    ("space-float-blocks", {"s.toml": SPACE + "num_blocks = 1e12\n"},
     ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"], "positive integer"),
    ("space-shared-string", {"s.toml": SPACE + 'shared = "false"\n'},
     ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"], "shared must be true or false"),
    ("space-activation", {"s.toml": SPACE + 'activation = "swishy"\n'},
     ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"], "unknown activation"),
    *[(f"space-embed-{v}", {"s.toml": f"[space]\nnum_blocks = 1\nembed_dims = [{v}]\nffn_ratios = [1.0]\n"
                                      "layers = [1]\n"},
       ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"], msg)
      for v, msg in (("0", "must be positive"), ("-64", "must be positive"), ("2147483648", "largest supported"),
                     ("64.5", "integers"), ('"x"', "finite numbers"), ("inf", "finite numbers"),
                     ("nan", "finite numbers"))],
    *[(f"space-ratio-{v}", {"s.toml": f"[space]\nnum_blocks = 1\nembed_dims = [64]\nffn_ratios = [{v}]\n"
                                      "layers = [1]\n"},
       ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"], msg)
      for v, msg in (("0", "must be positive"), ("-1.0", "must be positive"), ("1000", "largest supported"),
                     ("true", "finite numbers"))],
    *[(f"space-layers-{v}", {"s.toml": f"[space]\nnum_blocks = 1\nembed_dims = [64]\nffn_ratios = [1.0]\n"
                                       f"layers = [{v}]\n"},
       ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"], msg)
      for v, msg in (("0", "must be positive"), ("100000", "largest supported"), ("[]", "finite numbers"))],
    *[(f"space-{key}-{v}", {"s.toml": SPACE + f"{key} = {v}\n"},
       ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"], msg)
      for key in ("vocab_size", "embed_proj_dim", "max_positions", "head_dim")
      for v, msg in (("0", "positive integer"), ("-5", "positive integer"), ("1e30", "positive integer"),
                     ("18446744073709551616", "largest supported"))],
    *[(f"space-{key}-a-string", {"s.toml": "[space]\nnum_blocks = 1\nembed_dims = [64]\nffn_ratios = [1.0]\n"
                                            "layers = [1]\n".replace(f"{key} = [", f'{key} = "64" #[')},
       ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"], f"{key} must be a list of {kind}, got '64'")
      for key, kind in (("embed_dims", "integers"), ("ffn_ratios", "numbers"), ("layers", "integers"))],
    ("space-not-toml", {"s.toml": "[space\n"}, ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"],
     "cannot read space file"),
    ("space-preset-number", {"s.toml": "[space]\npreset = 3\n"},
     ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"], "preset must be a preset name"),
    # problem and result files
    ("problem-deep-json", {"p.json": "[" * 100_000 + "]" * 100_000}, ["design", "--problem", "{d}/p.json"],
     "nested too deeply"),
    ("problem-device", {}, ["design", "--problem", "/dev/zero"], "not a regular file"),
    ("problem-folder", {}, ["design", "--problem", "{d}"], "not a regular file"),
    ("problem-missing", {}, ["design", "--problem", "{d}/none.toml"], "does not exist"),
    ("problem-binary", {"p.toml": "\udcff"}, ["design", "--problem", "{d}/p.toml"], "not UTF-8"),
    ("problem-storage", {"p.toml": '[solver]\nname = "tpe"\nstorage = "sqlite:///{d}/x.db"\n'},
     ["design", "--problem", "{d}/p.toml"], "--allow-storage"),
    ("problem-with-space", {"p.toml": ""}, ["design", "--problem", "{d}/p.toml", "--space", "small"],
     "--space and --problem cannot be combined"),
    ("problem-with-objective", {"p.toml": ""}, ["design", "--problem", "{d}/p.toml", "--objective", "params"],
     "--objective and --problem cannot be combined"),
    ("problem-with-budget", {"p.toml": ""}, ["design", "--problem", "{d}/p.toml", "--budget", "flops=1G"],
     "cannot be combined"),
    *[(f"problem-effectiveness-beta-{v}", {"p.toml": SPACE + "[budgets]\nflops = '10G'\n[constraints]\n"
                                                   f"effectiveness = {{ rho_max = 0.5, beta = {v} }}\n"},
       ["design", "--problem", "{d}/p.toml"], "effectiveness beta must be a positive number")
      for v in ("nan", "inf", "-1.0", "0")],
    # flags
    ("sweep-latency-without-profile", {}, ["sweep", "--space", "small", "--over", "latency_ms", "--budgets", "50"],
     "needs a device profile: sweep a problem file (--problem) with a latency budget and its profile"),
    ("empty-solver", {}, ["design", "--solver", "", "--space", "small", "--budget", "flops=10G"], "--solver is empty"),
    ("unknown-solver", {}, ["design", "--solver", "sa", "--space", "small", "--budget", "flops=10G"], "sa"),
    ("seed-and-resume", {"c.ckpt": "{}"}, ["design", "--space", "small", "--budget", "flops=10G", "--seed", "3",
                                           "--resume", "{d}/c.ckpt"], "--seed and --resume cannot be combined"),
    ("verify-negative", {}, ["table", "--space", "small", "--verify", "-1"], "--verify takes"),
    ("checkpoint-folder", {}, ["design", "--space", "small", "--budget", "flops=10G", "--checkpoint", "{d}"],
     "is a folder"),
    ("checkpoint-under-a-file", {"f": "x"},
     ["design", "--space", "small", "--budget", "flops=10G", "--checkpoint", "{d}/f/c.ckpt"], "not a writable folder"),
    ("checkpoint-over-notes", {"notes.txt": "my notes"},  # were written over
     ["design", "--space", "small", "--budget", "flops=10G", "--checkpoint", "{d}/notes.txt"],
     "--checkpoint '{d}/notes.txt' is a file that holds no mpsolve checkpoint, which the run would write over: give "
     "another --checkpoint, or delete the file"),
    ("resume-garbage", {"c.ckpt": "garbage"},
     ["design", "--space", "small", "--budget", "flops=10G", "--resume", "{d}/c.ckpt"], "unreadable"),
    ("budget-negative", {}, ["design", "--space", "small", "--budget", "flops=-3G"], "flops"),
    ("budget-nan", {}, ["design", "--space", "small", "--budget", "flops=nan"], "'nan' is not a finite quantity"),
    ("budget-inf", {}, ["design", "--space", "small", "--budget", "params=-Inf"], "'-Inf' is not a finite quantity"),
    ("budget-unknown-cost", {}, ["design", "--space", "small", "--budget", "joules=3"], "joules"),
    ("budget-infeasible", {}, ["design", "--space", "small", "--budget", "flops=1"], "cheapest"),
    # outputs checked before the work
    ("pareto-csv-under-a-file", {"f": "x"},
     ["pareto", "--space", "small", "--budgets", "5G,10G", "--csv", "{d}/f/front.csv"], "--csv"),
    ("pareto-reference-zero-cost", {}, ["pareto", "--space", "small", "--budgets", "5G", "--reference", "0,0"],
     "positive finite cost"),
    ("pareto-reference-one-number", {}, ["pareto", "--space", "small", "--budgets", "5G", "--reference", "0"],
     "an objective and a cost"),
    ("pareto-reference-nan", {}, ["pareto", "--space", "small", "--budgets", "5G", "--reference", "nan,5G"],
     "finite objective"),
    ("pareto-plot-txt", {}, ["pareto", "--space", "small", "--budgets", "5G", "--plot", "{d}/f.txt"], "suffix '.txt'"),
    ("pareto-plot-no-suffix", {}, ["pareto", "--space", "small", "--budgets", "5G", "--plot", "{d}/f"], "no suffix"),
    ("pareto-csv-is-plot", {}, ["pareto", "--space", "small", "--budgets", "5G", "--plot", "{d}/f.png", "--csv",
                                "{d}/x/../f.png"], "is the --csv file: give --plot its own file name"),
    # an empty name was taken for no file: the front was printed and no file written, without a word
    ("pareto-csv-empty", {}, ["pareto", "--space", "small", "--budgets", "5G", "--csv", ""], "--csv is an empty name"),
    ("pareto-plot-empty", {}, ["pareto", "--space", "small", "--budgets", "5G", "--plot", ""], "--plot is an empty"),
    ("cost-graphml-empty", {}, ["cost", "merino-52m", "--graphml", ""], "--graphml is an empty name"),
    ("pareto-plot-folder", {}, ["pareto", "--space", "small", "--budgets", "5G,10G", "--plot", "{d}"], "--plot"),
    ("cost-graphml-under-a-file", {"f": "x"}, ["cost", "merino-52m", "--graphml", "{d}/f/g.graphml"], "--graphml"),
    ("profile-out-under-a-file", {"f": "x"}, ["profile-latency", "--space", "small", "--out", "{d}/f/p.json"],
     "--out"),
    ("profile-threads-beyond-cpus", {}, ["profile-latency", "--space", "small", "--threads", "100000", "--out",
                                         "{d}/p.json"], "CPUs this process may run on"),
    ("profile-torch-all-logits", {}, ["profile-latency", "--space", "small", "--logits", "all", "--out", "{d}/p.json"],
     "torch profiles keep the last position's logits"),
    ("profile-torch-lean", {}, ["profile-latency", "--space", "small", "--lean", "--out", "{d}/p.json"],
     "--lean is the exported graph's: give it with --runtime onnxruntime"),
    ("profile-torch-jobs", {}, ["profile-latency", "--space", "small", "--jobs", "2", "--out", "{d}/p.json"],
     "--jobs exports the components, which torch does not: give it with --runtime onnxruntime"),
    ("profile-no-jobs", {}, ["profile-latency", "--space", "small", "--runtime", "onnxruntime", "--jobs", "0", "--out",
                             "{d}/p.json"], "jobs must be a positive integer, got 0"),
    ("profile-torch-graph-dir", {}, ["profile-latency", "--space", "small", "--graph-dir", "{d}/g", "--out",
                                     "{d}/p.json"], "--graph-dir keeps the exported graphs: give it with --runtime"),
    ("profile-graph-dir-is-out", {}, ["profile-latency", "--space", "small", "--runtime", "onnxruntime", "--graph-dir",
                                      "{d}/p.json", "--out", "{d}/p.json"], "--graph-dir and --out are the same path"),
    ("profile-graph-dir-a-file", {"f": "x"}, ["profile-latency", "--space", "small", "--runtime", "onnxruntime",
                                              "--graph-dir", "{d}/f", "--out", "{d}/p.json"],
     "f' is not a folder: give a folder (created when missing)"),
    ("latency-torch-graph-dir", {}, ["latency", "merino-52m", "--graph-dir", "{d}/g"],
     "--graph-dir keeps the exported graphs: give it with --runtime"),
    ("latency-graph-dir-a-file", {"f": "x"}, ["latency", "merino-52m", "--runtime", "onnxruntime", "--graph-dir",
                                              "{d}/f"], "--graph-dir '{d}/f' is not a folder: give a folder"),
    ("memory-torch-graph-dir", {}, ["memory", "merino-52m", "--graph-dir", "{d}/g"],
     "--graph-dir keeps the exported graphs: give it with --runtime"),
    ("memory-graph-dir-a-file", {"f": "x"}, ["memory", "merino-52m", "--runtime", "onnxruntime", "--graph-dir",
                                             "{d}/f"], "--graph-dir '{d}/f' is not a folder: give a folder"),
    ("build-out-is-a-file", {"f": "x"}, ["build", "merino-52m", "--out", "{d}/f"], "is a file"),
    ("graphml-name-too-long", {}, ["cost", "merino-52m", "--graphml", "{d}/" + "g" * 300 + ".graphml"],
     "cannot be written: File name too long"),
    ("graphml-under-proc", {}, ["cost", "merino-52m", "--graphml", "/proc/mpsolve-none/g.graphml"],
     "cannot be written"),  # root may pass os.access there; the probe file cannot be made
    ("arch-path-too-long", {}, ["cost", "{d}/" + "a" * 300 + ".json"], "File name too long"),
    ("train-diverges", {"a.json": _arch(), "c.txt": "the quick brown fox jumps over the lazy dog. " * 100},
     ["train", "{d}/a.json", "--corpus", "{d}/c.txt", "--out", "{d}/run", "--tokens", "2k", "--seq-len", "32",
      "--lr", "1e10"], "training diverged"),
    ("train-tokens-beyond-memory", {"a.json": _arch(), "c.txt": "the quick brown fox jumps over the lazy dog. " * 100},
     ["train", "{d}/a.json", "--corpus", "{d}/c.txt", "--out", "{d}/run", "--tokens", "2T", "--seq-len", "32"],
     "whose data order needs"),
    ("nsga2-costs-table", {"p.toml": 'space = "small"\n[budgets]\nflops = "10G"\n[solver]\nname = "nsga2"\n'
                                     "costs = [{a = 1}]\n"}, ["design", "--problem", "{d}/p.toml"],
     "nsga2: costs must be cost names"),
    ("nsga2-pop-size-1", {"p.toml": 'space = "small"\n[budgets]\nflops = "10G"\n[solver]\nname = "nsga2"\n'
                                    "pop_size = 1\n"}, ["design", "--problem", "{d}/p.toml"],
     "pop_size must be an integer >= 2"),
    ("space-width-one", {"s.toml": "num_blocks = 2\nembed_dims = [1]\nffn_ratios = [1.0]\nlayers = [1]\n"
                                   "head_dim = 1\n"}, ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"],
     "width below 2"),
    ("space-ratio-rounds-to-zero", {"s.toml": SPACE + "ffn_ratios = [1e-12, 1.0]\n"},
     ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"], "width below 2"),
    # architectures
    ("build-init-std-inf", {}, ["build", "merino-52m", "--init-std", "inf", "--out", "{d}/m"],
     "--init-std inf is not an init std in (0, 1]"),
    ("build-init-std-negative", {}, ["build", "merino-52m", "--init-std", "-1", "--out", "{d}/m"],
     "--init-std -1.0 is not an init std in (0, 1]"),
    ("build-init-std-huge", {}, ["build", "merino-52m", "--init-std", "1e300", "--out", "{d}/m"],
     "--init-std 1e+300 is not an init std in (0, 1]"),
    ("memory-seq-len-beyond", {}, ["memory", "merino-52m", "--seq-len", "4096"], "exceeds the design's max_positions"),
    ("memory-seq-len-zero", {}, ["memory", "merino-52m", "--seq-len", "0"], "seq_len must be a positive integer"),
    ("memory-mmap-threshold-too-large", {}, ["memory", "merino-52m", "--seq-len", "8", "--mmap-threshold",
                                            "99999999999"], "above the largest glibc documents"),
    ("build-seed-2**32", {}, ["build", "merino-52m", "--seed", "4294967296", "--out", "{d}/m"],
     "error: seed must be below 2**32"),  # was 'config init_seed: seed must ...', a config the user never gave
    *[(f"arch-{name}", {"a.json": text}, ["cost", "{d}/a.json"], msg) for name, text, msg in (
        ("ratio-infinity", _block(ffn_ratio="Infinity").replace('"Infinity"', "Infinity"), "ffn_ratio"),
        ("ratio-nan", _block(ffn_ratio="NaN").replace('"NaN"', "NaN"), "ffn_ratio"),
        ("ratio-zero", _block(ffn_ratio=0), "ffn_ratio"),
        ("ratio-rounds-to-zero", _block(ffn_ratio=1e-300), "is not a positive integer"),
        ("width-one", _arch(head_dim=1, blocks=[{"embed_dim": 1, "ffn_ratio": 4.0, "layers": 1}]), "widths of 1"),
        ("ratio-string", _block(ffn_ratio="2"), "ffn_ratio"),
        ("embed-zero", _block(embed_dim=0), "embed_dim"),
        ("embed-huge", _block(embed_dim=2**40), "largest supported"),
        ("layers-zero", _block(layers=0), "layers"),
        ("layers-huge", _block(layers=10**6), "largest supported"),
        ("vocab-huge", _arch(vocab_size=2**40), "largest supported"),
        ("activation", _arch(activation="swishy"), "unknown activation"),
        ("shared-string", _arch(shared="no"), "must be true or false"),
        ("no-blocks", _arch(blocks=[]), "at least one block"),
        ("order", _arch(blocks=[{"embed_dim": 128, "ffn_ratio": 1.0, "layers": 1},
                                {"embed_dim": 64, "ffn_ratio": 1.0, "layers": 1}]), "non-decreasing"),
    )],
    # a file holding a JSON string was read as a preset name or a path: one naming itself was a RecursionError
    *[(f"{cmd}-json-{name}", {"a.json": text}, [cmd, "{d}/a.json"],
       f"architecture JSON '{{d}}/a.json' holds {kind}, not an object: give an architecture")
      for cmd in ("cost", "score") for name, text, kind in (("naming-itself", '"{d}/a.json"', "a string"),
                                                              ("a-preset-name", '"merino-64m"', "a string"),
                                                              ("a-list", "[1, 2]", "a list"))],
    ("result-without-design", {"r.json": json.dumps({"status": "infeasible", "architecture": None})},
     ["cost", "{d}/r.json"], "the result holds no design (status 'infeasible')"),
    *[(f"{cmd}-of-a-pareto-front", {"f.json": json.dumps({"over": "flops", "points": []})}, [cmd, "{d}/f.json"],
       "this is a Pareto front (mpsolve pareto --json), not one design") for cmd in ("cost", "score")],  # was
    # "unknown architecture field(s) ['over', 'points']"
    *[(f"{cmd}-of-a-{kind}", {"f.json": json.dumps({"format": f"mpsolve-{kind}", "version": 2, "layers": []})},
       [cmd, "{d}/f.json"], f"this is a 'mpsolve-{kind}' file, not a design: give an architecture")
      for cmd in ("cost", "score") for kind in ("latency-profile", "checkpoint")],  # was the file's every field,
    # listed as "unknown architecture field(s)", the file unnamed
    ("json-5000-digits", {"a.json": '{"blocks": ' + "9" * 5000 + "}"}, ["cost", "{d}/a.json"],
     "an integer with too many digits (more than 4300)"),
    # an output over an input (before, each overwrote its input and exited 0)
    ("graphml-over-the-architecture", {"a.json": json.dumps(get_architecture("merino-52m").to_dict())},
     ["cost", "{d}/a.json", "--graphml", "{d}/./a.json"], "--graphml '{d}/./a.json' is the architecture file"),
    ("sweep-out-over-its-problem", {"p.toml": 'space = "small"\n[budgets]\nflops = "12G"\n'},
     ["sweep", "--problem", "{d}/p.toml", "--out", "{d}/p.toml"], "is the --problem '{d}/p.toml' file"),
    *[(f"{cmd}-over-the-space-file", {"s.toml": "[space]\npreset = \"small\"\n"}, [cmd, *args, "{d}/s.toml"],
       f"{flag} '{{d}}/s.toml' is the --space file: give {flag} its own file name")
      for cmd, flag, args in (
          ("pareto", "--csv", ["--space", "{d}/s.toml", "--budgets", "5G", "--csv"]),
          ("design", "--checkpoint", ["--space", "{d}/s.toml", "--budget", "flops=10G", "--checkpoint"]),
          ("profile-latency", "--out", ["--space", "{d}/s.toml", "--out"]))],
    ("checkpoint-over-the-problem", {"p.toml": 'space = "small"\n[budgets]\nflops = "12G"\n'},
     ["design", "--problem", "{d}/p.toml", "--checkpoint", "{d}/p.toml"], "is the --problem file"),
    *[(f"{cmd}-time-limit-{v}", {}, [cmd, *args, "--time-limit", v],
       f"--time-limit must be a positive number of seconds, got {v}")
      for cmd, args in (("design", ["--space", "small", "--budget", "flops=10G"]),
                        ("pareto", ["--space", "small", "--budgets", "5G,10G"]),
                        ("sweep", ["--space", "small", "--over", "flops", "--budgets", "5G,10G"]))
      for v in ("0", "-1", "nan")],
    # an empty --space ran the default space without a word
    ("design-empty-space", {}, ["design", "--space", "", "--budget", "flops=10G"], "unknown search space ''"),
    ("sweep-empty-space", {}, ["sweep", "--space", "", "--over", "flops", "--budgets", "5G"],
     "--space needs at least one comma-separated value"),
    # an empty item was dropped: a value lost to a typo, without a word
    ("pareto-empty-budget", {}, ["pareto", "--space", "small", "--budgets", "10G,,20G"],
     "--budgets '10G,,20G' has an empty item: give a value between every two commas, and none after the last"),
    ("sweep-empty-solver", {}, ["sweep", "--space", "small", "--over", "flops", "--budgets", "5G", "--solvers",
                                "exact,"], "--solvers 'exact,' has an empty item"),
    # an empty objective was taken for the default one, entropy
    ("design-objective-empty", {}, ["design", "--space", "small", "--budget", "flops=10G", "--objective", ""],
     "--objective is empty: name one, e.g. --objective entropy"),
    # an option given twice: the last one was run, the first dropped without a word
    ("design-option-twice", {}, ["design", "--space", "small", "--budget", "flops=10G", "--option", "iterations=100",
                                 "--option", "iterations=200"], "--option iterations is given twice"),
    ("sweep-option-twice", {}, ["sweep", "--space", "small", "--over", "flops", "--budgets", "10G", "--option",
                                "ea.iterations=100", "--option", " ea.iterations=200"],
     "--option ea.iterations is given twice"),
    # a problem file given as pareto's space was pointed to design --problem (pareto takes a space only)
    *[(f"pareto-space-is-a-problem-file{i}", {"p.toml": text}, ["pareto", "--space", "{d}/p.toml", "--budgets", "5G"],
       f"holds budgets{where}, which a space file does not take: keep only the space in it (a whole problem is a "
       "--problem file, of mpsolve design or sweep)")
      for i, (text, where) in enumerate(((SPACE + '[budgets]\nflops = "5G"\n', " besides [space]"),
                                         ('[budgets]\nflops = "5G"\n', "")))],  # this one: unknown space field(s)
    # a budget or solver given twice: both budgets applied (the lower binding), the front solved twice, unsaid
    ("design-budget-twice", {}, ["design", "--space", "small", "--budget", "params=100M", "--budget", "params=60M"],
     "--budget params is given twice (params=100M, params=60M): give each cost one budget"),
    ("pareto-solver-twice", {}, ["pareto", "--space", "small", "--budgets", "5G", "--solver", "exhaustive,exhaustive"],
     "--solver exhaustive is given twice: its front would repeat the same answers; give each solver once"),
]


@pytest.mark.parametrize(("files", "argv", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, files, argv, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text.replace("{d}", str(tmp_path)), errors="surrogateescape")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    contents = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    try:
        code = main([a.replace("{d}", str(tmp_path)) for a in argv])
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in "\n".join(err)
    assert message.replace("{d}", str(tmp_path)) in err[-1], err
    assert len([line for line in err if line.startswith("mpsolve")]) == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written
    assert {p: p.read_bytes() for p in contents} == contents  # nor overwritten


@pytest.mark.parametrize("argv", [
    ["build", "merino-52m", "--out", ""],
    ["train", "merino-52m", "--corpus", "c.txt", "--out", ""],
    ["export", "ck", "--onnx", ""],
    ["generate", "", "--prompt", "hi"],
    ["evaluate", "", "--corpus", "c.txt"],
    ["profile-latency", "--out", ""],
    ["sweep", "--space", "small", "--solvers", "exact", "--out", ""],
    ["train", "merino-52m", "--corpus", "", "--out", "run"],
    ["evaluate", "ck", "--corpus", ""],
], ids=lambda argv: "-".join(a.lstrip("-") for a in argv if a in ("build", "train", "export", "generate", "evaluate",
                                                                  "profile-latency", "sweep", "--corpus")))
def test_an_empty_path_is_refused_not_taken_for_the_current_folder(tmp_path, capsys, monkeypatch, argv):
    """Before: Path('') is '.', so build and train wrote a checkpoint into the current folder, and generate and
    evaluate read one from it, where check_writable refuses an empty name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.txt").write_text("some text " * 50)
    with pytest.raises(SystemExit) as exc:  # argparse's usage error, as for any bad value of a flag
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and err[-1].endswith(": an empty name: give a path"), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


@pytest.mark.parametrize("argv", [["design", "--problem", "", "--budget", "flops=10G", "--space", "small"],
                                  ["sweep", "--problem", ""]], ids=["design", "sweep"])
def test_an_empty_problem_file_name_is_refused(tmp_path, capsys, monkeypatch, argv):
    """Before: design took --problem '' for no --problem and ran the --budget problem; sweep read the current
    folder as the problem file ('.' is not a regular file)."""
    import mpsolve.cli.design

    monkeypatch.setattr(mpsolve.cli.design, "solve", lambda *a, **k: pytest.fail("a run started"))
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == ("mpsolve: error: --problem is an empty name: give a problem file, e.g. "
                                               "--problem run.toml")


HUGE = "x" * 2_000_000


@pytest.mark.parametrize(("files", "argv", "message"), [
    ({"a.json": _arch(activation=HUGE)}, ["cost", "{d}/a.json"], "unknown activation 'xxx"),
    ({"a.json": _arch(shared=HUGE)}, ["cost", "{d}/a.json"], "must be true or false, got 'xxx"),
    ({"a.json": _block(ffn_ratio=HUGE)}, ["cost", "{d}/a.json"], "must be a number, got 'xxx"),
    ({"a.json": _block(layers=HUGE)}, ["cost", "{d}/a.json"], "must be an integer, got 'xxx"),
    ({"a.json": _arch(blocks=[HUGE])}, ["cost", "{d}/a.json"], "must be an object with keys"),
    ({"s.toml": f'preset = "{HUGE}"\n'}, ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"],
     "unknown search space 'xxx"),
    ({"s.toml": f'space = "{HUGE}"\n'}, ["design", "--space", "{d}/s.toml", "--budget", "flops=10G"], "[space]"),
], ids=["activation", "shared", "ffn-ratio", "layers", "block", "preset", "space"])
def test_a_huge_value_from_a_file_is_echoed_short(tmp_path, capsys, files, argv, message):
    """Before: the value was echoed whole (``!r``): an error line of megabytes (found by the security audit)."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert main([a.replace("{d}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and len(err[-1]) < 1000, err[-1][:300]


def test_a_huge_value_in_a_sweep_row_is_echoed_short(tmp_path, capsys) -> None:
    """Before: a kept row's status, time limit or objective was printed whole (found by the security audit)."""
    out = tmp_path / "rows.json"
    argv = ["sweep", "--space", "small", "--solvers", "ea", "--over", "flops", "--budgets", "20G", "--out", str(out)]
    assert main(argv) == 0
    rows = json.loads(out.read_text())
    for key in ("status", "time_limit", "objective"):
        out.write_text(json.dumps([{**rows[0], key: HUGE}]))
        main([*argv, "--resume"])
        said = capsys.readouterr()
        line = next(line for line in (said.out + said.err).splitlines() if "xxx" in line)
        assert len(line) < 1000
