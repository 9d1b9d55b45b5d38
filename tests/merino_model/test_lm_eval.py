"""lm-evaluation-harness on a checkpoint: a local task from files, checked against our own log-likelihoods."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from mpsolve import Architecture
from mpsolve.cli import main
from mpsolve.merino_model import (
    Corpus,
    MeRinoHFForCausalLM,
    ModelInputError,
    build,
    byte_tokenizer,
    checkpoint_tokenizer,
    evaluate,
    lm_eval_tasks,
    load_task_file,
    train_bpe_tokenizer,
)

DOCS = [
    {"question": "The cat sat on the", "choices": [" mat", " qzx"], "label": 0},
    {"question": "Hello", "choices": ["zzzz", " world"], "label": 1},
    {"question": "def f(x):\n    return", "choices": [" x", "}}}}"], "label": 0},
    {"question": "1, 2, 3,", "choices": [" 4", " é"], "label": 0},
    {"question": "import", "choices": [" os", " ~~~"], "label": 0},
    {"question": "", "choices": ["a", "b"], "label": 1},
]
TASK = """task: tiny_choice
dataset_path: json
dataset_kwargs:
  data_files:
    test: data/docs.jsonl
test_split: test
output_type: multiple_choice
doc_to_text: "{{question}}"
doc_to_target: label
doc_to_choice: choices
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
"""


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("task")
    (root / "data").mkdir()
    (root / "data" / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in DOCS), encoding="utf-8")
    (root / "task.yaml").write_text(TASK, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def model() -> MeRinoHFForCausalLM:
    arch = Architecture.from_dict({"blocks": [{"embed_dim": 64, "ffn_ratio": 2, "layers": 2}], "vocab_size": 256,
                                   "max_positions": 128})
    return MeRinoHFForCausalLM.from_model(build(arch, seed=3, init_std=0.5).eval())


def continuation_logprob(model: MeRinoHFForCausalLM, context: str, continuation: str) -> float:
    """log p(continuation | context) in float64, a newline standing in for an empty context."""
    ctx = list(context.encode()) or [10]
    cont = list(continuation.encode())
    ids = torch.tensor([ctx + cont])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits.double(), dim=-1)[0]
    return float(sum(logp[len(ctx) - 1 + i, t] for i, t in enumerate(cont)))


def expected_accuracy(model: MeRinoHFForCausalLM) -> float:
    hits = 0
    for d in DOCS:
        # lm-eval's continuation is the target delimiter (a space by default) and the choice
        scores = [continuation_logprob(model, d["question"], " " + c) for c in d["choices"]]
        hits += int(max(range(len(scores)), key=scores.__getitem__) == d["label"])
    return hits / len(DOCS)


def test_byte_tokenizer_ids_are_the_utf8_bytes() -> None:
    text = "héllo, wörld\n\t~ ÿ 🙂"
    tok = byte_tokenizer()
    assert tok.encode(text, add_special_tokens=False) == list(text.encode())
    assert tok.decode(list(text.encode())) == text


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_local_task_matches_our_own_loglikelihoods(model: MeRinoHFForCausalLM, task_dir: Path, monkeypatch) -> None:
    """Also: an evaluation starts no process. lm-eval's record of the machine, which we drop, ran torch's environment
    report (11 processes, ``pip list`` among them), a second of each evaluation."""
    import subprocess

    from mpsolve.merino_model._lm_eval import _without_model_object_warnings

    started = []

    def start(self, args, *rest, **kwargs):  # lm-eval takes a failure to start as no news
        started.append(args)
        raise OSError("no process in this test")

    config = load_task_file(task_dir / "task.yaml")
    assert config["dataset_kwargs"]["data_files"]["test"] == str(task_dir / "data" / "docs.jsonl")
    logger, records = logging.getLogger("lm_eval.models.huggingface"), _Records()
    logger.addHandler(records)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(subprocess.Popen, "__init__", start)
            result = lm_eval_tasks(model, byte_tokenizer(), [config])
        assert started == []
        # lm-eval's warnings about the model object we hand it on purpose are dropped, every other message passes
        dropped = [m for m in records.messages if "already-initialized" in m or "not of type `str`" in m]
        assert not dropped, dropped
        with _without_model_object_warnings():
            logger.warning("Passed an already-initialized model through `pretrained`")
            logger.warning("another warning")
        assert records.messages[-1:] == ["another warning"] and not logger.filters
    finally:
        logger.removeHandler(records)
    acc = result["tiny_choice"]["acc,none"]
    # six documents: accuracy is a multiple of 1/6; our float64 scoring must pick the same choices
    assert acc == pytest.approx(expected_accuracy(model), abs=1e-9)


def test_cli_evaluate_runs_tasks_and_corpus(model: MeRinoHFForCausalLM, task_dir: Path, tmp_path: Path,
                                            capfd: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    ckpt = tmp_path / "ckpt"
    model.save_pretrained(ckpt)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 400, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # outside a git repository lm-eval's `git describe` printed "fatal: ..."
    assert main(["evaluate", str(ckpt), "--corpus", str(corpus), "--tasks", str(task_dir / "task.yaml"),
                 "--seq-len", "64", "--json"]) == 0
    out, err = capfd.readouterr()
    assert "fatal:" not in err, err
    report = json.loads(out)
    assert report["tasks"]["tiny_choice"]["acc,none"] == pytest.approx(expected_accuracy(model), abs=1e-9)
    # the corpus part is the same computation as the library's evaluate (deterministic, same weights)
    assert report["bits_per_byte"] == pytest.approx(evaluate(model.model, str(corpus), seq_len=64)["bits_per_byte"],
                                                    rel=1e-9)
    assert checkpoint_tokenizer(ckpt).encode("ab", add_special_tokens=False) == [97, 98]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("task: t\ndoc_to_text: !function utils.doc\n", "not data-only YAML"),
        ("!!python/object/apply:os.system ['echo pwned']\n", "not data-only YAML"),
        ("task: t\ninclude: other.yaml\n", "include"),
        ("task: t\nclass: lm_eval.api.task.ConfigurableTask\n", "class"),
        ("task: t\ndataset_kwargs:\n  trust_remote_code: true\n", "trust_remote_code"),
        # a task file chose where `datasets` writes (before: honoured, the folder created)
        ("task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: d.jsonl\n  cache_dir: /tmp/elsewhere\n",
         "uses dataset_kwargs.cache_dir, .* or choose where data is written; .*data_files only"),
        ("task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: d.jsonl\n  storage_options: {a: 1}\n",
         "dataset_kwargs.storage_options"),
        ("- task: t\n", "mapping with a 'task' name"),
        ("task: [1, 2]\n", "mapping with a 'task' name"),
        ("task: t\ndataset_kwargs: 3\n", "dataset_kwargs must be a mapping"),
        ("task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: 3\n", "data_files must be"),
        ("task: t\ndataset_path: json\n", "must read local files"),
        ("task: t\ndataset_path: hellaswag\ndataset_kwargs:\n  data_files: d.jsonl\n", "must read local files"),
        ("task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: .\n", "not a regular file"),
        ("task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: /etc/passwd\n", "relative to the task file"),
        ("task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: {test: ../task.yaml}\n", "'..' are refused"),
        ("task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: '*.jsonl'\n", "does not exist .globs"),
        ("task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: [missing.jsonl]\n", "does not exist"),
        ("task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: empty.jsonl\n", "empty.jsonl' is empty: give"),
        ("task: t\n  bad: indent\n: x\n", "not valid YAML at line 2 .mapping values are not allowed here.; fix"),
        ("{bad: [\n", "is not valid YAML at line 2"),
        # billion laughs: _resolve walked 10^9 data files, lm-eval hung on the metadata (before)
        ("task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: &a [d.jsonl]\nmetadata: {x: *a}\n",
         "has an alias at line 5: YAML anchors and aliases .* not read; write the values out$"),
        ("x: &x d.jsonl\ntask: t\ndataset_path: json\ndataset_kwargs:\n  data_files: [*x, *x]\n", "alias at line 5"),
        # PyYAML's RecursionError traceback (before)
        (TASK + "metadata: " + "[" * 20000 + "]" * 20000 + "\n", "is nested too deeply; flatten its values$"),
        # lm-eval ran it as a group of no tasks: exit 0, no metric (before)
        (TASK + "group: mine\n", "has a 'group' key, .* with 'tag' instead$"),
    ],
)
def test_task_files_are_data_only(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "task.yaml"
    path.write_text(text, encoding="utf-8")
    (tmp_path / "empty.jsonl").touch()  # datasets stopped on it with a bare StopIteration
    with pytest.raises(ModelInputError, match=message) as info:
        load_task_file(path)
    assert "\n" not in str(info.value)


def test_a_data_file_linked_out_of_the_task_folder_is_refused(tmp_path: Path) -> None:
    """Before: read (the path's text was checked, not where it led); a link inside the folder is followed."""
    task, outside = tmp_path / "task", tmp_path / "outside"
    for folder in (task, outside):
        folder.mkdir()
        (folder / "d.jsonl").write_text('{"q": "a", "a": "b"}\n', encoding="utf-8")
    (task / "inside.jsonl").symlink_to(task / "d.jsonl")
    (task / "out.jsonl").symlink_to(outside / "d.jsonl")
    (task / "linked").symlink_to(outside)
    for data, message in (("out.jsonl", "out.jsonl' links to .*outside/d.jsonl', outside the task file's folder "),
                          ("linked/d.jsonl", "linked/d.jsonl' links to .*outside/d.jsonl', outside"),
                          ("[inside.jsonl, out.jsonl]", "out.jsonl' links to")):
        (task / "t.yaml").write_text(f"task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: {data}\n")
        with pytest.raises(ModelInputError, match=message + ".*: copy the data into the folder$"):
            load_task_file(task / "t.yaml")
    (task / "t.yaml").write_text("task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: inside.jsonl\n")
    load_task_file(task / "t.yaml")


def _script_writing(folder: Path, marker: Path) -> None:
    """A Python module that, imported, writes ``marker``: the evaluate library imports a metric named by
    a folder path, and lm-eval's own loader imports a ``!function`` module beside its task file."""
    folder.mkdir(exist_ok=True)
    code = f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\ndef doc(d):\n    return ''\n"
    (folder / f"{folder.name}.py").write_text(code, encoding="utf-8")
    (folder.parent / "utils.py").write_text(code, encoding="utf-8")


@pytest.mark.parametrize("metric", ["- metric: {script}", "- metric: acc\n    hf_evaluate: true", "- metric: [acc]"])
def test_a_metric_that_is_not_lm_evals_own_is_refused(task_dir: Path, tmp_path: Path, metric: str) -> None:
    """Before: a metric named by a folder path ran the folder's script through ``evaluate.load``."""
    marker = tmp_path / "ran"
    _script_writing(tmp_path / "metric", marker)
    text = TASK.split("metric_list:")[0] + "metric_list:\n  " + metric.format(script=tmp_path / "metric") + "\n"
    (task_dir / "metric.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ModelInputError, match="is not one of lm-eval's own .*refused: they load code"):
        load_task_file(task_dir / "metric.yaml")
    assert not marker.exists()


def test_a_task_file_is_read_as_data_whatever_its_name(model: MeRinoHFForCausalLM, task_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Before: a path without a .yaml suffix went to lm-eval as a task name, and its loader ran ``!function``."""
    marker = tmp_path / "ran"
    _script_writing(tmp_path / "module", marker)
    (task_dir / "utils.py").write_text((tmp_path / "utils.py").read_text(), encoding="utf-8")
    path = task_dir / "plain"
    path.write_text(TASK.replace('"{{question}}"', "!function utils.doc"), encoding="utf-8")
    ckpt = tmp_path / "ckpt"
    model.save_pretrained(ckpt)
    assert main(["evaluate", str(ckpt), "--tasks", str(path)]) == 2
    assert "is not data-only YAML" in capsys.readouterr().err
    with pytest.raises(ModelInputError, match="is a file path, not an installed task's name: read it with "
                                              "load_task_file"):
        lm_eval_tasks(model, byte_tokenizer(), [str(path)])
    assert not marker.exists()


def test_a_template_cannot_reach_python_internals(model: MeRinoHFForCausalLM, task_dir: Path, tmp_path: Path) -> None:
    hostile = TASK.replace('"{{question}}"', '"{{ question.__class__.__mro__[1].__subclasses__() }}"')
    path = task_dir / "hostile.yaml"
    path.write_text(hostile, encoding="utf-8")
    with pytest.raises(ModelInputError, match="unsafe access"):
        lm_eval_tasks(model, byte_tokenizer(), [load_task_file(path)])


def test_cli_errors_are_one_line(tmp_path: Path, task_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    cases = [
        ["evaluate", str(ckpt)],
        ["evaluate", str(ckpt), "--corpus", "x.txt", "--limit", "3"],
        ["evaluate", str(ckpt), "--tasks", str(task_dir / "task.yaml"), "--limit", "0"],
        ["evaluate", str(ckpt), "--tasks", " , "],
        ["evaluate", str(ckpt), "--tasks", str(tmp_path / "missing.yaml")],
        ["evaluate", str(ckpt), "--corpus", "x.txt", "--seed", "7"],  # was silently ignored
        ["evaluate", str(ckpt), "--tasks", str(task_dir / "task.yaml"), "--seed", "-1"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err and "\n" not in err and "Traceback" not in err, (argv, err)
        if "--seed" in argv:  # before: "--seed 7 needs --tasks and must be >= 0", whichever was wrong
            assert err.endswith("--seed must be >= 0, got -1" if "--tasks" in argv else
                                "--seed is for --tasks, which is not given: add --tasks, or drop --seed")


def test_a_data_file_its_loader_cannot_read_is_named(model: MeRinoHFForCausalLM, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "docs.jsonl").write_text("not json{\n", encoding="utf-8")
    (tmp_path / "task.yaml").write_text(TASK, encoding="utf-8")
    with pytest.raises(ModelInputError, match=r"could not read the task data \(tiny_choice: .*docs\.jsonl") as info:
        lm_eval_tasks(model, byte_tokenizer(), [load_task_file(tmp_path / "task.yaml")], limit=2)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("change", "where", "said"), [
    (("doc_to_choice: choices", 'doc_to_choice: "[{{choices}}"'), "doc_to_choice", "SyntaxError"),
    (("test_split: test", 'test_split: test\nuse_prompt: "promptsource:x"'), "__init__", "ModuleNotFoundError"),
])
def test_a_task_lm_eval_cannot_run_is_one_line(model: MeRinoHFForCausalLM, task_dir: Path, change, where,
                                               said) -> None:
    """Before: lm-eval's SyntaxError (a choice list its literal_eval cannot parse) and ModuleNotFoundError (a
    promptsource prompt) were tracebacks (found by the security audit). The line names the task and lm-eval's
    method that failed: before, it said "the tasks"."""
    (task_dir / "odd.yaml").write_text(TASK.replace(*change), encoding="utf-8")
    said = rf"^lm-eval could not run task 'tiny_choice' \(in its {where}\): {said}: "
    with pytest.raises(ModelInputError, match=said) as info:
        lm_eval_tasks(model, byte_tokenizer(), [load_task_file(task_dir / "odd.yaml")], limit=2)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("bad", "doc", "target"), [(3, 3, "5"), (0, 0, "5"), (4, 4, "'neither'"), (4, 4, "-1")])
def test_a_target_not_among_its_choices_is_refused_before_the_model_runs(
        model: MeRinoHFForCausalLM, task_dir: Path, monkeypatch, bad: int, doc: int, target: str) -> None:
    """Before: lm-eval scored a document whose target was no index of its choices as wrong (with a warning, or none
    for -1), and the first document's was "IndexError: list index out of range". A text target must be a choice's."""
    from lm_eval.models.huggingface import HFLM

    docs = [dict(d) for d in DOCS]
    docs[bad]["label"] = json.loads(target.replace("'", '"'))
    folder = task_dir / f"bad_target_{bad}_{len(target)}"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "docs.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    (folder / "task.yaml").write_text(TASK, encoding="utf-8")
    task = load_task_file(folder / "task.yaml")

    def scored(*args, **kwargs):
        raise AssertionError("the model ran")

    monkeypatch.setattr(HFLM, "loglikelihood", scored)
    with pytest.raises(ModelInputError, match=f"^task 'tiny_choice': document {doc}'s target {target} is not one "
                                              r"of its 2 choices \(an index from 0, or a choice's text\), and lm-eval "
                                              "would score it as wrong: mend the data, or the task's doc_to_target$"):
        lm_eval_tasks(model, byte_tokenizer(), [task])
    if bad:  # the documents a limit keeps are checked, and only those
        with pytest.raises(ModelInputError, match="AssertionError: the model ran"):
            lm_eval_tasks(model, byte_tokenizer(), [task], limit=bad)


@pytest.mark.parametrize(("split", "shots", "most"), [("", 7, 6), ("fewshot_split: test\n", 6, 5)])
def test_more_few_shot_examples_than_documents_are_refused(model: MeRinoHFForCausalLM, task_dir: Path, split: str,
                                                           shots: int, most: int) -> None:
    """Before: lm-eval's "ValueError: Sample larger than population or is negative". From the split it evaluates,
    lm-eval draws one example more and leaves the document in question out: its 6 documents give 5 examples."""
    (task_dir / "shots.yaml").write_text(TASK + split, encoding="utf-8")
    task = load_task_file(task_dir / "shots.yaml")
    with pytest.raises(ModelInputError, match=f"^task 'tiny_choice' asks for {shots} few-shot examples, and its "
                                              f"few-shot documents number 6.*: give --num-fewshot {most} or fewer"):
        lm_eval_tasks(model, byte_tokenizer(), [task], num_fewshot=shots, limit=1)
    assert "acc,none" in lm_eval_tasks(model, byte_tokenizer(), [task], num_fewshot=most, limit=1)["tiny_choice"]


def test_tasks_of_one_name_are_refused(model: MeRinoHFForCausalLM, task_dir: Path) -> None:
    """Before: lm-eval kept the last task of a name; the other's result was dropped without a word."""
    (task_dir / "two.yaml").write_text(TASK.replace("data/docs.jsonl", "task.yaml"), encoding="utf-8")
    one, two = load_task_file(task_dir / "task.yaml"), load_task_file(task_dir / "two.yaml")
    for tasks in ([one, two], ["tiny_choice", one]):
        with pytest.raises(ModelInputError, match="^two different tasks are named 'tiny_choice', and lm-eval would "
                                                  "report one of them only: give each task file its own task name$"):
            lm_eval_tasks(model, byte_tokenizer(), tasks)
    assert lm_eval_tasks(model, byte_tokenizer(), [one, one], limit=2)["tiny_choice"]["sample_len"] == 2


def test_an_unknown_task_name_is_one_line(model: MeRinoHFForCausalLM) -> None:
    with pytest.raises(ModelInputError, match=r"^unknown lm-eval task\(s\) 'no_such_task_xyz'") as info:
        lm_eval_tasks(model, byte_tokenizer(), ["no_such_task_xyz"])
    assert "\n" not in str(info.value)


def test_an_unknown_task_name_is_refused_before_the_model_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the model loaded, then lm-eval's raw KeyError ('Spec ... is not a registered task/group/tag name'),
    without a way out. lm-eval's index of its installed tasks (seconds to build) is stood in for."""
    from mpsolve.merino_model import _lm_eval

    monkeypatch.setattr(_lm_eval, "_installed_tasks", lambda: type("Index", (), {"all_tasks": ["hellaswag", "mmlu"]}))
    assert main(["evaluate", str(tmp_path / "no-checkpoint"), "--tasks", "helaswag,mmlu,nope"]) == 2
    assert capsys.readouterr().err == (
        "mpsolve: error: unknown lm-eval task(s) 'helaswag', 'nope' (near 'helaswag': 'hellaswag'): give the name of a "
        "task installed with lm-eval (`lm-eval ls tasks` lists them; `lm-eval --tasks list` in a release without "
        "ls) or a task file (.yaml, .yml, .json)\n")


def test_a_bpe_checkpoint_evaluates_with_its_saved_tokenizer(tmp_path: Path) -> None:
    corpus = Corpus.from_bytes(("the quick brown fox jumps over the lazy dog. " * 300).encode())
    tokenizer = train_bpe_tokenizer(corpus, vocab_size=300)
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    text = "the lazy fox"
    assert checkpoint_tokenizer(tmp_path).encode(text, add_special_tokens=False) == tokenizer.encode(text).ids
    n = tokenizer.get_vocab_size()
    (tmp_path / "config.json").write_text(json.dumps({"vocab_size": n - 1}), encoding="utf-8")  # ids past the model's
    with pytest.raises(ModelInputError, match=rf"has {n} tokens, more than the model's vocab_size {n - 1} \(config"):
        checkpoint_tokenizer(tmp_path)  # was "token ids must be in [0, n - 1)" from the model, naming no file
    (tmp_path / "tokenizer.json").write_text("garbage{", encoding="utf-8")
    with pytest.raises(ModelInputError, match=r"tokenizer file '.*tokenizer\.json' is damaged") as info:
        checkpoint_tokenizer(tmp_path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("where", ["missing", "file"])
def test_a_tokenizer_of_no_folder_is_refused_not_bytes(tmp_path: Path, where: str) -> None:
    folder = tmp_path / "run"  # a mistyped checkpoint path used to give the byte tokenizer
    if where == "file":
        folder.write_text("x", encoding="utf-8")
    with pytest.raises(ModelInputError, match="does not exist or is not a folder") as info:
        checkpoint_tokenizer(folder)
    assert "\n" not in str(info.value)



def test_a_generate_until_task_runs(model: MeRinoHFForCausalLM, task_dir: Path) -> None:
    """Before: MeRino tokenizers have no end-of-text token, and lm-eval's generate_until decodes it as a stop
    sequence: every generation task failed with "'None' is not an instance of 'Sequence'"."""
    text = TASK.replace("tiny_choice", "tiny_generate").replace("output_type: multiple_choice",
                                                               "output_type: generate_until")
    text = text.replace("doc_to_target: label\ndoc_to_choice: choices", "doc_to_target: \"{{choices[label]}}\"")
    text = text.replace("metric_list:\n  - metric: acc", "generation_kwargs:\n  until: [\"\\n\"]\n  max_gen_toks: 4\n"
                        "metric_list:\n  - metric: exact_match")
    (task_dir / "generate.yaml").write_text(text, encoding="utf-8")
    from transformers import PreTrainedTokenizerFast

    from mpsolve.merino_model._lm_eval import byte_level_bpe

    for tokenizer in (byte_tokenizer(), PreTrainedTokenizerFast(tokenizer_object=byte_level_bpe())):  # a pad or none
        pad = tokenizer.pad_token
        result = lm_eval_tasks(model, tokenizer, [load_task_file(task_dir / "generate.yaml")], limit=2)
        assert 0.0 <= result["tiny_generate"]["exact_match,none"] <= 1.0
        assert tokenizer.eos_token_id is None  # the tokenizer handed over is left as it was
        assert tokenizer.pad_token == pad and len(tokenizer) == 256


def _generate_task(task_dir: Path, name: str, generation: str) -> dict:
    """The tiny task as a generate_until task with ``generation`` as its generation_kwargs lines."""
    text = TASK.replace("tiny_choice", name).replace("output_type: multiple_choice", "output_type: generate_until")
    text = text.replace("doc_to_target: label\ndoc_to_choice: choices", "doc_to_target: \"{{choices[label]}}\"")
    text = text.replace("metric_list:\n  - metric: acc", f"generation_kwargs:\n{generation}metric_list:\n"
                        "  - metric: exact_match")
    (task_dir / f"{name}.yaml").write_text(text, encoding="utf-8")
    return load_task_file(task_dir / f"{name}.yaml")


def test_generation_fits_a_small_model(task_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: lm-eval's default max_gen_toks (256) on a model of 64 positions stopped the run with lm-eval's raw
    AssertionError "requested max tokens to generate (256) must be less than model's maximum sequence length";
    now the default is at most half the model's positions, and a task asking for more is refused before any work."""
    arch = Architecture.from_dict({"blocks": [{"embed_dim": 64, "ffn_ratio": 2, "layers": 2}], "vocab_size": 256,
                                   "max_positions": 64})
    small = MeRinoHFForCausalLM.from_model(build(arch, seed=3, init_std=0.5).eval())
    default = _generate_task(task_dir, "tiny_default", "  until: [\"\\n\"]\n")
    result = lm_eval_tasks(small, byte_tokenizer(), [default], limit=2)
    assert 0.0 <= result["tiny_default"]["exact_match,none"] <= 1.0
    calls = []

    def unexpected(*args, **kwargs):
        calls.append(args)
        raise AssertionError("lm-eval ran before the generation length was checked")

    for key in ("max_gen_toks", "max_new_tokens"):
        task = _generate_task(task_dir, f"tiny_{key}", f"  until: [\"\\n\"]\n  {key}: 64\n")
        with pytest.MonkeyPatch.context() as patch:
            import lm_eval
            patch.setattr(lm_eval, "simple_evaluate", unexpected)
            with pytest.raises(ModelInputError, match=rf"^task 'tiny_{key}' generates up to 64 tokens \({key}\) but "
                                                      r"the model holds 64 positions in all, its prompt included: set "
                                                      rf"generation_kwargs {key} below 64 in the task file$"):
                lm_eval_tasks(small, byte_tokenizer(), [default, task], limit=2)
    assert not calls
    # an installed task's settings are not seen before lm-eval runs: its own check (an assert) is one line too
    message = "Invalid configuration: requested max tokens to generate (300) must be less than model's maximum"

    def lm_eval_refuses(*args, **kwargs):
        raise AssertionError(message)

    with pytest.MonkeyPatch.context() as patch:
        import lm_eval

        from mpsolve.merino_model import _lm_eval
        patch.setattr(lm_eval, "simple_evaluate", lm_eval_refuses)
        patch.setattr(_lm_eval, "_installed_tasks", lambda: type("Index", (), {"all_tasks": ["some_installed_task"]}))
        with pytest.raises(ModelInputError, match=f"^lm-eval could not run the tasks: AssertionError: "
                                                  f"{re.escape(message)}$"):
            lm_eval_tasks(small, byte_tokenizer(), ["some_installed_task"], limit=2)
    ckpt = tmp_path / "ckpt"
    small.save_pretrained(ckpt)
    capsys.readouterr()
    assert main(["evaluate", str(ckpt), "--tasks", str(task_dir / "tiny_max_gen_toks.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "generates up to 64 tokens (max_gen_toks)" in err, err



def test_a_training_record_nested_too_deeply_reads_as_none(tmp_path: Path) -> None:
    """Before: json's RecursionError traceback from generate, evaluate and export (found by the security audit)."""
    from mpsolve.merino_model import trained_seq_len

    (tmp_path / "training.json").write_text("[" * 100_000, encoding="utf-8")
    assert trained_seq_len(tmp_path) is None


HOSTILE_TEMPLATES = [
    "{{ question * 2000000000 }}",
    "{{ [question] * 2000000000 }}",
    "{{ (label + 2) ** 1000000000 }}",
    "{{ '%2000000000s' % question }}",
    "{{ '%*s' % (2000000000, question) }}",
    "{{ '{:2000000000}'.format(question) }}",
    "{{ question.ljust(2000000000) }}",
    "{{ question|center(2000000000) }}",
    "{{ question|indent(2000000000) }}",
    "{{ '%2000000000s'|format(question) }}",
    "{% set b = question * 100000 %}{{ b|replace(question, b) }}",
    "{% set b = question * 100000 %}{{ ([b] * 1000)|join }}",
    "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% set l = [1] %}{% for i in range(64) %}{% set _ = l.extend(l) %}{% endfor %}",
    "{% set b = 'a' * 500000 %}{% for i in range(100000) %}{{ b }}{% endfor %}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% for i in range(100000)|map('abs') %}{% for j in range(100000)|map('abs') %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% set a = 7 ** 4000 %}{% for i in range(100000) %}{{ a * a // (a + 1) }}{% endfor %}",  # seconds a division
    # a list of the list before twice, 40 times over: 2^40 items sized as 40 lists (once each), so printing it built
    # text for hours and filters took it whole
    "{% set ns = namespace(a=[0]) %}{% for i in range(40) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}{{ ns.a }}",
    "{% set ns = namespace(a=[0]) %}{% for i in range(40) %}{% set ns.a = [ns.a, ns.a] %}{% endfor %}"
    "{{ ns.a|length }}",
    # comparisons were no steps and read nothing: a loop compared 2 MiB (or searched 1 MiB) each time, a hundred
    # thousand times, and any number of them per iteration; two such lists compared 2^n pairs (n = 24: 0.5 s)
    "{% set a = 'x' * 1000000 %}{% set b = 'x' * 1000000 %}{% for i in range(1000) %}{{ a == b }}{% endfor %}",
    "{% set a = 'x' * 1000000 %}{% set n = 'x' * 999 ~ 'y' %}{% for i in range(1000) %}{{ n in a }}{% endfor %}",
    "{% set a = 'x' * 1000000 %}{% for i in range(1000) %}{{ 'y' is in a }}{% endfor %}",
    "{% for i in range(40000) %}{% if i == 0 or i == 1 %}{% endif %}{% endfor %}",
    "{% set ns = namespace(a=[0], b=[0]) %}{% for i in range(24) %}{% set ns.a = [ns.a, ns.a] %}"
    "{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}",
    # so did a dict's key: a tuple of such tuples was hashed whole (n = 24: 0.4 s)
    "{% set ns = namespace(t=(0,)) %}{% for i in range(24) %}{% set ns.t = (ns.t, ns.t) %}{% endfor %}"
    "{% set d = {ns.t: 1} %}",
    "{% set s = 'x' * 100000 %}{% for i in range(99000) %}{% set b = s[1:] %}{% endfor %}",  # slices were no work
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("template", HOSTILE_TEMPLATES)
def test_a_template_is_bounded_in_size_and_work(template: str) -> None:
    """Before: Jinja's sandbox bounds no work: ``{{ q * 2000000000 }}`` built 2 GB in seconds, nested loops over
    ``range(100000)`` ran for hours (found by the security audit)."""
    import lm_eval.utils

    from mpsolve.merino_model._lm_eval import _sandboxed_templates
    from mpsolve.merino_model._sandbox import TemplateLimitError

    with _sandboxed_templates(), pytest.raises(TemplateLimitError,
                                               match="MiB of text|steps|iterations|deeply|digits|items"):
        lm_eval.utils.apply_template(template, DOCS[0])
    assert "lipsum" in lm_eval.utils.env.globals  # lm-eval's own environment is back


@pytest.mark.timeout(60)
@pytest.mark.parametrize("template", [
    "{% set a = [0] * 200000 %}{% for i in range(200) %}{{ a|length }}{% endfor %}",
    "{% set a = [0] * 200000 %}{% for i in range(200) %}{{ 9 in a }}{% endfor %}",
    "{% set a = [0] * 200000 %}{% set b = [0] * 200000 %}{% for i in range(200) %}{{ a < b }}{% endfor %}",
    "{% for i in range(200) %}{{ big|length }}{% endfor %}",  # a document's list
    # a literal rebuilt each iteration was no work: a thousand items, a hundred thousand times, rendered
    "{% for i in range(100000) %}{% set a = [" + "0, " * 1000 + "] %}{% endfor %}",
    "{% for i in range(100000) %}{% set a = [[" + "0, " * 1000 + "]] %}{% endfor %}",
    "{% for i in range(100000) %}{% set a = [" + "i, " * 1000 + "] %}{% endfor %}",
    "{% for i in range(100000) %}{% set a = (" + "i, " * 1000 + ") %}{% endfor %}",
    "{% for i in range(100000) %}{% set a = {" + "i: 0, " * 1000 + "} %}{% endfor %}",
    # so was a slice, a copy (of 200 000 items: 37 s to the step limit)
    "{% set a = [0] * 20000 %}{% for i in range(100000) %}{% set b = a[1:] %}{% endfor %}",
])
def test_a_template_sizes_a_bounded_number_of_items(template: str) -> None:
    """Before: each sizing of a list of 200 000 zeros (under 1 MiB of text) walked it item by item, so these ran some
    17 s to the 64 MiB budget (found by the audit of the bounds' speed)."""
    import lm_eval.utils

    from mpsolve.merino_model._lm_eval import _sandboxed_templates
    from mpsolve.merino_model._sandbox import ITEM_LIMIT, TemplateLimitError

    said = rf"^sizes or writes more than {ITEM_LIMIT} items of lists and dicts in all$"
    with _sandboxed_templates(), pytest.raises(TemplateLimitError, match=said):
        lm_eval.utils.apply_template(template, {**DOCS[0], "big": [0] * 200_000})


@pytest.mark.parametrize("template", [
    "{{ " + "(" * 100 + "label" + ")" * 100 + " }}", "{{ " + "label + " * 1000 + "label }}",
    "{{ " + "label + " * 300 + "label }}", "{% if label %}" * 100 + "{% endif %}" * 100,
    "{% if label %}" * 300 + "{% endif %}" * 300,
])
def test_a_template_nested_too_deeply_to_compile_is_refused(template: str) -> None:
    """Before: Jinja's parser or code generator ran out of Python's recursion (a RecursionError traceback past lm-eval),
    or Python refused the generated code ("too many nested parentheses", "too many levels of indentation"), at
    100 parentheses (found by the audit of the bounds' speed)."""
    import lm_eval.utils

    from mpsolve.merino_model._lm_eval import _sandboxed_templates
    from mpsolve.merino_model._sandbox import TemplateLimitError

    with _sandboxed_templates(), pytest.raises(TemplateLimitError, match="^nests expressions or blocks too deeply to "
                                                                         "compile$") as info:
        lm_eval.utils.apply_template(template, DOCS[0])
    assert info.value.source == template


@pytest.mark.parametrize("template", [
    "{{question}}", "{{choices[label]}}", "{{ '%s (%d)' % (question, label) }}", "{{ question ~ '!' }}",
    "{{ question|trim }}?{% for c in choices %} {{ loop.index }}.{{ c }}{% endfor %}",
    "{{ '{} {}'.format(question, label) }}", "{{ choices * 2 }}", "{{ choices|join(', ') }}",
    "{{ question|center(30) }}", "{{ question|regex_replace('a', 'o') }}",
    "{{ 2 ** 10 }}", "{{ 7 // 2 }} {{ 10 - label }} {{ 7 / 2 }} {{ 7 ** 400 % 10 }}",
    "{{ choices|map('upper')|list }}", "{{ {'a': label} }}", "{{ question|wordwrap(5) }}",
    "{% set ns = namespace(n=0) %}{% for c in choices %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}",
    "{{ missing|default('none') }} {{ missing|d(question)|trim }}",  # was an UndefinedError: sized as a collection
    "{{ 1 < label + 2 < 3 }} {{ 'a' in question }} {{ question not in choices }} {{ label is eq 0 }} {{ label != 1 }}",
    "{{ label > 5 > missing.x }} {{ choices|select('in', question)|list }} {{ [1, 2] <= [1, 3] }}",  # a chain: lazy
    "{{ {'a': label, 'b': {(1, 2): question}}|dictsort|first }} {{ {} }} {{ {label: 1}[0] }}",
    "{% for a, b in [(1, 2), (label, [3])] %}{{ a }}{{ b }}{% endfor %}{% set c, d = label, (1,) %}{{ c }}{{ d }}",
    "{{ [] }} {{ () }} {{ (label,) }} {{ [[1, 2], {'a': (3, [])}] }} {{ [choices, question][1] }}",
    "{{ question[4:7] }} {{ choices[::-1] }} {{ choices[label] }} {{ question[:label] }} {{ range(9)[2:4]|list }}",
])
def test_bounded_templates_render_as_lm_evals_own(template: str) -> None:
    import lm_eval.utils

    from mpsolve.merino_model._lm_eval import _sandboxed_templates

    expected = lm_eval.utils.apply_template(template, DOCS[0])
    with _sandboxed_templates():
        assert lm_eval.utils.apply_template(template, DOCS[0]) == expected


def test_a_template_is_compiled_once() -> None:
    """Before: lm-eval compiled a task's template again for each document, some 1.5 s a document for one of 64 KiB
    (found by the audit of the bounds' speed)."""
    import lm_eval.utils

    from mpsolve.merino_model._lm_eval import _sandboxed_templates

    with _sandboxed_templates():
        env = lm_eval.utils.env
        assert env.from_string("{{ question }}") is env.from_string("{{ question }}")
        assert env.from_string("{{ question }}", globals={"a": 1}) is not env.from_string("{{ question }}")
        assert [lm_eval.utils.apply_template("{{ question }}", doc) for doc in DOCS] == [d["question"] for d in DOCS]


@pytest.mark.timeout(60)
def test_a_template_past_its_bounds_is_one_line_naming_the_task(model: MeRinoHFForCausalLM, task_dir: Path) -> None:
    (task_dir / "big.yaml").write_text(TASK.replace("tiny_choice", "tiny_big").replace(
        '"{{question}}"', '"{{ question * 2000000000 }}"'), encoding="utf-8")
    said = r"^task 'tiny_big': template '\{\{ question \* 2000000000 \}\}' builds a value of more than 1 MiB of text; "
    bounds = (r"a template may be at most 64 KiB long and build at most 1 MiB of text \(64 MiB in all\) in at most "
              r"100000 steps, sizing or writing at most 1048576 list and dict items, per document$")
    with pytest.raises(ModelInputError, match=said + bounds) as info:
        lm_eval_tasks(model, byte_tokenizer(), [load_task_file(task_dir / "big.yaml")], limit=2)
    assert "\n" not in str(info.value)
    # compiling took some 1 s per 64 KiB (2-4 s for 200 KB), for each document (found by the audit of the bounds' speed)
    (task_dir / "long.yaml").write_text(TASK.replace("tiny_choice", "tiny_long").replace(
        '"{{question}}"', '"{{question}}' + "x" * 70_000 + '"'), encoding="utf-8")
    said = r"^task 'tiny_long': template '\{\{question\}\}x+\.\.\. is 70012 characters long, more than 64 KiB; "
    with pytest.raises(ModelInputError, match=said + bounds):
        lm_eval_tasks(model, byte_tokenizer(), [load_task_file(task_dir / "long.yaml")], limit=2)


@pytest.mark.timeout(60)
def test_a_catastrophic_pattern_of_a_task_is_one_line(model: MeRinoHFForCausalLM, task_dir: Path) -> None:
    """Before: ``re`` backtracked for ever on exact_match's ``regexes_to_ignore`` ``(x+x+)+y`` against a long run of
    ``x`` (found by the security audit)."""
    task = _generate_task(task_dir, "tiny_slow", '  until: ["\\n"]\n  max_gen_toks: 2\n')
    task["doc_to_target"] = "{{ 'x' * 5000 }}"
    task["metric_list"][0]["regexes_to_ignore"] = ["(x+x+)+y"]
    with pytest.raises(ModelInputError, match=r"^task 'tiny_slow': regular expression '\(x\+x\+\)\+y' searched a "
                                              r"text for more than 1 s; give a simpler pattern$"):
        lm_eval_tasks(model, byte_tokenizer(), [task], limit=1)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("pattern", "said"), [
    ("(x+x+)+y", "searched a text for more than 1 s"),
    ("x{1000000000}", "repeats more than 10000 items"),  # the regex package unrolled it: all memory
    ("(?:x{100}){101}", "repeats more than 10000 items"),
    ("(", "is not a regular expression Python reads"),
])
def test_task_patterns_are_bounded(pattern: str, said: str) -> None:
    import lm_eval.filters.extraction
    import lm_eval.utils

    from mpsolve.merino_model._lm_eval import _sandboxed_templates, _timed_patterns
    from mpsolve.merino_model._sandbox import PatternError

    with _timed_patterns(), _sandboxed_templates():
        with pytest.raises(PatternError, match=said):
            lm_eval.filters.extraction.RegexFilter(regex_pattern=pattern).apply([["x" * 5000]], [{}])
        with pytest.raises(PatternError, match=said):
            lm_eval.utils.apply_template(f"{{{{ ('x' * 5000)|regex_replace({pattern!r}, '') }}}}", {})
    assert lm_eval.utils.re is re


@pytest.mark.parametrize("pattern", [r"#### (\-?[0-9\.\,]+)", r"(?i)\b(yes|no)\b", r"\s+", r"^\W*|\W*$", r"(\d)(\d)?"])
def test_timed_patterns_match_as_re(pattern: str) -> None:
    from mpsolve.merino_model._sandbox import TIMED_RE

    text = "#### 12,5 Yes no  maybe 7 8\n#### -3 !"
    assert TIMED_RE.findall(pattern, text) == re.findall(pattern, text)
    assert TIMED_RE.sub(pattern, "_", text, count=1) == re.sub(pattern, "_", text, count=1)
    assert TIMED_RE.split(pattern, text, maxsplit=2) == re.split(pattern, text, maxsplit=2)
    assert TIMED_RE.compile(pattern).findall(text) == re.compile(pattern).findall(text)


@pytest.mark.parametrize("pattern", ["a**", r"(.|.)*\b\B"])
def test_a_tokenizer_that_panics_is_one_line(tmp_path: Path, pattern: str, capfd: pytest.CaptureFixture[str]) -> None:
    """Before: a Replace normalizer the Rust tokenizer cannot run made it panic on any text: pyo3's PanicException (a
    BaseException, missed by ``except Exception``) and some 110 lines of traceback (found by the security audit)."""
    from mpsolve.merino_model import checkpoint_bpe_tokenizer
    from mpsolve.merino_model._lm_eval import byte_level_bpe

    config = json.loads(byte_level_bpe().to_str())
    config["normalizer"] = {"type": "Replace", "pattern": {"Regex": pattern}, "content": "y"}
    (tmp_path / "tokenizer.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ModelInputError, match=r"^tokenizer file '.*tokenizer\.json' is damaged \(.+\); restore it or "
                                              r"train the checkpoint again") as info:
        checkpoint_bpe_tokenizer(tmp_path)
    assert "\n" not in str(info.value)
    assert "panicked" not in capfd.readouterr().err  # the Rust report is dropped too


def _tokenizer_panicking_on_a_run_of_a() -> Any:
    """A tokenizer whose normalizer panics on a long run of ``a`` only: the sample text of a load passes."""
    from tokenizers import Tokenizer

    from mpsolve.merino_model._lm_eval import byte_level_bpe

    config = json.loads(byte_level_bpe().to_str())
    config["normalizer"] = {"type": "Replace", "pattern": {"Regex": r"(a|a)*\b\B"}, "content": "y"}
    return Tokenizer.from_str(json.dumps(config))


def test_a_tokenizer_that_panics_on_some_text_is_one_line(capfd: pytest.CaptureFixture[str]) -> None:
    """The sample text loads, the corpus fails in one line; before, Rust's report of the panic printed above it."""
    tokenizer = _tokenizer_panicking_on_a_run_of_a()
    with pytest.raises(ModelInputError, match=r"^the tokenizer, on the corpus, failed \(.+\); restore the checkpoint's "
                                              r"tokenizer\.json$"):
        Corpus.from_bytes(b"a" * 5000).encode(tokenizer)
    assert "panicked" not in capfd.readouterr().err


def test_a_tokenizer_that_panics_on_a_tasks_text_is_one_line(model: MeRinoHFForCausalLM, task_dir: Path,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    """Before: Rust's report of the panic printed above the line. lm-eval's own stderr is kept: only the tokenizer's
    calls drop it, and the tokenizer handed over keeps its own."""
    from mpsolve.merino_model._lm_eval import transformers_tokenizer

    tokenizer = transformers_tokenizer(_tokenizer_panicking_on_a_run_of_a())
    task = load_task_file(task_dir / "task.yaml")
    task["task"], task["doc_to_text"] = "tiny_run_of_a", "{{ 'a' * 5000 }}"
    with pytest.raises(ModelInputError, match=r"^the tokenizer, on a task's text, failed \(.+\); restore the "
                                              r"checkpoint's tokenizer\.json$"):
        lm_eval_tasks(model, tokenizer, [task], limit=1)
    assert "panicked" not in capfd.readouterr().err
    assert "_encode_plus" not in vars(tokenizer)
    with pytest.raises(BaseException, match="Regex") as info:  # the panic itself, a BaseException
        tokenizer.encode("a" * 5000)
    assert type(info.value).__name__ == "PanicException"
    assert "panicked" in capfd.readouterr().err  # the report that was dropped: a panic still makes one here


def test_a_tokenizer_loads_with_stderr_closed() -> None:
    """Dropping a panic's report must not need a stderr: under ``2>&-`` every tokenizer failed to load."""
    import subprocess
    import sys

    code = ("import os; os.close(2); from mpsolve.merino_model._lm_eval import byte_level_bpe, tokenizer_from_json; "
            "print(tokenizer_from_json(byte_level_bpe().to_str(), 's', 'w').get_vocab_size())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.strip() == "256", done.stdout + done.stderr


def test_a_long_literal_pattern_is_no_repeat() -> None:
    """Before: a pattern's every literal counted as an unrolled item, so lm-eval's multiple-choice fallback pattern (the
    document's choices, escaped) of over 10000 characters was refused as repeating too much (found by the audit of
    the new checks)."""
    import lm_eval.filters.extraction

    from mpsolve.merino_model._lm_eval import _timed_patterns

    choices = [f"{word} " * 3000 for word in ("red", "green")]
    docs, resps = [{"choices": choices}], [[f"I think {choices[1]}"]]
    expected = lm_eval.filters.extraction.MultiChoiceRegexFilter().apply(resps, docs)
    with _timed_patterns():
        assert lm_eval.filters.extraction.MultiChoiceRegexFilter().apply(resps, docs) == expected == [["(B)"]]


@pytest.mark.parametrize("flags", [re.ASCII, re.ASCII | re.IGNORECASE, re.IGNORECASE | re.MULTILINE | re.DOTALL])
def test_timed_patterns_take_res_flags(flags: int) -> None:
    """Before: ``re``'s flags went to the ``regex`` package as they were, where re.ASCII's bit is VERSION1: ``\\w``
    matched ``é``, and a pattern regex's VERSION1 reads otherwise was regex's error, a traceback (found by the audit
    of the new checks)."""
    from mpsolve.merino_model._sandbox import TIMED_RE

    text, pattern = "héllo [A]\nx", r"\w+|^x|.\n"
    assert TIMED_RE.findall(pattern, text, flags) == re.findall(pattern, text, flags)
    assert TIMED_RE.compile(pattern, flags=flags).sub("_", text) == re.compile(pattern, flags=flags).sub("_", text)


@pytest.mark.parametrize("pattern", ["[[:alpha:]]", "x|[[:foo:]]"])
def test_a_pattern_the_regex_package_reads_otherwise_is_refused(pattern: str) -> None:
    """Before: ``[[:alpha:]]``, a set of ``[:alph`` then ``]`` in ``re``, was a POSIX class in the ``regex`` package
    (it matched ``a`` alone), and ``[[:foo:]]`` was regex's error, a traceback (found by the audit of the new
    checks)."""
    from mpsolve.merino_model._sandbox import TIMED_RE, PatternError

    with pytest.raises(PatternError, match=r"POSIX class.*escape"):
        TIMED_RE.findall(pattern, "a:]")


@pytest.mark.parametrize("replacement", [r"\d", r"\2", r"\g<name>", "\\", r"\x41", r"\u0041", r"\N{DIGIT ONE}",
                                         r"\777"])
def test_a_replacement_re_does_not_read_is_refused(replacement: str) -> None:
    """Before: a replacement of ``regex_replace`` that ``re`` does not read (a bad escape, a group the pattern lacks)
    was the regex package's error, a traceback, or none when nothing matched, and one the regex package reads
    (``\\x41``, ``\\777``) replaced where ``re`` refuses it (found by the audit of the new checks)."""
    import lm_eval.utils

    from mpsolve.merino_model._lm_eval import _sandboxed_templates, _timed_patterns
    from mpsolve.merino_model._sandbox import TIMED_RE, PatternError

    with pytest.raises((re.error, IndexError)):
        re.sub("(a)", replacement, "zzz")
    compiled = TIMED_RE.compile("(a)")
    subs = [lambda text: TIMED_RE.sub("(a)", replacement, text),
            lambda text: TIMED_RE.subn("(a)", replacement, text, 1),
            lambda text: compiled.sub(replacement, text),
            lambda text: compiled.subn(repl=replacement, string=text)]
    said = r"^has a replacement '.+' that Python's re does not read \(.+\)$"
    for sub in subs:
        for text in ("a", "zzz"):  # re refuses it before it searches; the regex package, some only on a match
            with pytest.raises(PatternError, match=said):
                sub(text)
    with _timed_patterns(), _sandboxed_templates(), pytest.raises(PatternError, match=said):
        lm_eval.utils.apply_template("{{ question|regex_replace('(a)', repl) }}", {"question": "a",
                                                                                   "repl": replacement})
    with pytest.raises(PatternError, match=r"^has a replacement 1 that is not text but int$"):  # regex's AttributeError
        TIMED_RE.sub("(a)", 1, "a")


@pytest.mark.parametrize(("pattern", "replacement"), [
    ("(?P<x>a)(b)?", r"[\1|\2|\g<x>|\g<0>|\\|\-|\n|\0|\101]"), ("a", r"\\"), (b"(a)", rb"<\1\\\->"),
])
def test_a_replacement_re_reads_replaces_as_re(pattern: str | bytes, replacement: str | bytes) -> None:
    from mpsolve.merino_model._sandbox import TIMED_RE

    text = pattern[:0].join([b"zab", b"a\\"] if isinstance(pattern, bytes) else ["zab", "a\\"])
    assert TIMED_RE.subn(pattern, replacement, text) == re.subn(pattern, replacement, text)
    assert TIMED_RE.compile(pattern).sub(repl=replacement, string=text) == re.sub(pattern, replacement, text)


@pytest.mark.timeout(60)
def test_a_bad_replacement_of_a_task_is_one_line(model: MeRinoHFForCausalLM, task_dir: Path) -> None:
    template = r"""'{{ question|regex_replace(''(t)'', ''\\2'') }}'"""  # YAML's '' is one '
    (task_dir / "repl.yaml").write_text(TASK.replace("tiny_choice", "tiny_repl").replace('"{{question}}"', template),
                                        encoding="utf-8")
    said = (r"^task 'tiny_repl': regular expression '\(t\)' has a replacement '\\\\2' that Python's re does not "
            r"read \(invalid group reference 2 at position 1\); write the replacement as re.sub reads it \(a group as "
            r"\\1 or \\g<name>, a backslash as \\\\\)$")
    with pytest.raises(ModelInputError, match=said):
        lm_eval_tasks(model, byte_tokenizer(), [load_task_file(task_dir / "repl.yaml")], limit=2)
