"""Parameter overrides: an explicit None is told from "not given" everywhere (the Python API, compute,
build through papermill), a wrong value is refused in one line before anything runs, and without
overrides every preset's parameters (the keys of the committed results) stay what they were."""

from __future__ import annotations

import ast
import json
import tempfile
from pathlib import Path

import pytest

from pihlib.errors import PihError
from pihlib.reproduction import __main__ as command
from pihlib.reproduction import book, cache, experiment, presets, shards
from pihlib.reproduction.compute import derived_runs, runs
from pihlib.reproduction.compute.metric_study import TABLE1_PERCENTS
from pihlib.reproduction.compute.training_studies import FIRST_LAYER_METHODS, study_params
from pihlib.reproduction.report.classification import LEGACY_PARAMS
from pihlib.train import RECIPES, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_OF = {experiment(name).NOTEBOOK: name for name in shards.COMPUTABLE}
RECIPE_EPOCHS = RECIPES["airbench"]["epochs"]  # 15: airbench95's


@pytest.mark.parametrize("preset", list(presets.PRESETS))
def test_without_overrides_every_notebook_gets_its_presets_parameters(preset):
    for notebook in presets.NOTEBOOKS:
        assert presets.params(notebook, preset) == presets.PRESETS[preset][notebook]
        not_given = {name: presets.NOT_GIVEN for name in presets.BASE[notebook]}
        assert presets.params(notebook, preset, **not_given) == presets.PRESETS[preset][notebook]


def _expected_params(preset: str, name: str, stored: dict) -> dict:
    """The parameters today's code keys the committed record ``name`` by (see each experiment's run)."""
    p = {nb: presets.params(nb, preset) for nb in presets.NOTEBOOKS}
    for code in (runs, derived_runs):
        if name.startswith(f"{code.RUNS}/"):
            return code.run_params(stored["method"], stored["kind"], stored["seed"], p["03_classification"],
                                   stored["data_sha256"])
    if name == "first_layer":
        return {**study_params(p["03_classification"]), "methods": list(FIRST_LAYER_METHODS),
                "data_sha256": stored["data_sha256"]}
    if name == "jpeg_penalty":
        return {**study_params(p["03_classification"]), "jpeg": stored["jpeg"],
                "jpeg_sha256": stored["jpeg_sha256"], "data_sha256": stored["data_sha256"]}
    if name == "iir_examples":
        return {**p["01_metric_selection"], "percents": TABLE1_PERCENTS}
    notebook = {"scramblers": "00_scramblers", "metric_study": "01_metric_selection",
                "ssim_channels": "01_metric_selection", "hiding": "04_hiding",
                "attacks": "05_attacks"}.get(name)
    return p[notebook or ("02_key_search" if name.startswith("key_search_") else "?")]


# the committed results (results/smoke is not committed: a local build writes it)
COMMITTED = sorted(p for preset in ("cpu", "gpu") for p in (ROOT / "results" / preset).rglob("*.json"))


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: str(p.relative_to(ROOT / "results")))
def test_committed_results_are_keyed_by_todays_parameters(path):
    record = json.loads(path.read_text())
    preset, name = record["provenance"]["preset"], record["provenance"]["name"]
    assert record["provenance"]["params_sha256"] == cache.params_hash(record["params"])
    expected, stored = _expected_params(preset, name, record["params"]), record["params"]
    if name.startswith(f"{runs.RUNS}/"):  # older gpu runs also carry a code_version
        stored = {k: v for k, v in stored.items() if k not in LEGACY_PARAMS}
        expected = {k: v for k, v in expected.items() if k not in LEGACY_PARAMS}
    assert expected == stored


def test_committed_results_cover_every_preset_with_results():
    assert {p.relative_to(ROOT / "results").parts[0] for p in COMMITTED} == {"cpu", "gpu"}
    assert len(COMMITTED) >= 46


def test_explicit_none_takes_the_recipes_value_and_not_given_keeps_the_presets():
    nb = "03_classification"
    assert presets.params(nb, "cpu")["epochs"] == 3
    assert presets.params(nb, "cpu", epochs=presets.NOT_GIVEN)["epochs"] == 3
    given = presets.params(nb, "cpu", epochs=None, batch_size=None, lr=None)
    assert (given["epochs"], given["batch_size"], given["lr"]) == (None, None, None)
    trained = runs.train_config(given, "PE", 0)  # what the runs would train with
    assert (trained.epochs, trained.batch_size, trained.lr) == (
        RECIPE_EPOCHS, RECIPES["airbench"]["batch_size"], RECIPES["airbench"]["lr"])
    assert RECIPE_EPOCHS == 15 and runs.train_config(presets.params(nb, "cpu"), "PE", 0).epochs == 3
    # the paper preset's classic recipe: None gives back that recipe's value
    paper = presets.params(nb, "paper", epochs=None, schedule=None)
    config = runs.train_config(paper, "LE", 0)
    assert (config.epochs, config.schedule) == (RECIPES["classic"]["epochs"], RECIPES["classic"]["schedule"])
    # the hiding study trains its plain classifier the same way (hiding.compute)
    hiding = presets.params("04_hiding", "cpu", epochs=None)
    plain = TrainConfig("plain", epochs=hiding["epochs"], batch_size=hiding["batch_size"])
    assert plain.epochs == RECIPE_EPOCHS
    assert presets.params("04_hiding", "cpu")["epochs"] == 3


def test_none_on_the_command_line_reaches_the_runs(capsys):
    changes = command.overrides([["classification.epochs", "None"]], "cpu")
    assert changes == {"03_classification": {"epochs": None}}
    params = shards.experiment_params("classification", "cpu", changes)
    assert params["epochs"] is None
    assert runs.train_config(params, "plain", 0).epochs == RECIPE_EPOCHS
    # the shards' cost model sees the recipe's 15 epochs: each run costs 5 times the preset's 3
    cost = {t.part: t.cost for t in shards.tasks("cpu", ["classification"], {})}
    longer = {t.part: t.cost for t in shards.tasks("cpu", ["classification"], changes)}
    assert longer["plain-seed0"] == pytest.approx(RECIPE_EPOCHS / 3 * cost["plain-seed0"])
    assert command.main(["compute", "--preset", "cpu", "--only", "classification", "--plan",
                         "-p", "classification.epochs", "None"]) == 0
    assert "plain-seed0" in capsys.readouterr().out


BAD = [  # (-p TARGET.NAME, VALUE, what the one line says)
    ("key_search.trials", "2.5", "02_key_search: trials must be a positive integer, got 2.5"),
    ("key_search.trials", "None", "02_key_search: trials must be a positive integer, got None"),
    ("02_key_search.pool", "0", "02_key_search: pool must be a positive integer, got 0"),
    ("classification.methods", "['XX']", "03_classification: methods must be a list drawn from ['PE', "
                                          "'EtC', 'LE', 'ELE'], not empty and without repeats, got ['XX']"),
    ("classification.methods", "'PE'", "03_classification: methods must be a list drawn from"),
    ("hiding.methods", "[]", "04_hiding: methods must be a list drawn from"),
    ("classification.epochs", "abc", "03_classification: training epochs must be a positive integer, or None "
                                     "(the recipe's), got 'abc'"),
    ("classification.epochs", "3.0", "training epochs must be a positive integer, or None (the recipe's), "
                                     "got 3.0"),
    ("hiding.batch_size", "-5", "04_hiding: training batch_size must be a positive integer, or None"),
    ("classification.seeds", "[0, 'a']", "03_classification: seeds must be a non-empty list of integers"),
    ("classification.seeds", "[1, 1]", "seeds must be a non-empty list of integers (each 0 or more), without "
                                       "repeats, got [1, 1]"),
    ("classification.seeds", "0", "seeds must be a non-empty list of integers"),
    ("classification.lr", "0", "03_classification: training lr must be a positive number, or None"),
    ("classification.lr", "'fast'", "training lr must be a positive number, or None (the recipe's), "
                                    "got 'fast'"),
    ("classification.recipe", "'adam'", "03_classification: training recipe must be one of 'airbench', "
                                        "'classic', or None (the recipe's), got 'adam'"),
    ("classification.classifier", "'vgg'", "training classifier must be one of 'airbench', 'fast'"),
    ("classification.schedule", "'cosine'", "training schedule must be one of 'triangle', 'linear', 'steps'"),
    ("scrambling.split", "'val'", "00_scramblers: split must be one of 'train', 'test', got 'val'"),
    ("scrambling.seed", "-1", "00_scramblers: seed must be a non-negative integer, got -1"),
    ("metric_study.example_image", "True", "01_metric_selection: example_image must be a non-negative "
                                           "integer, got True"),
    ("metric_study.iterations", "None", "01_metric_selection: iterations must be a positive integer, "
                                        "got None"),
    ("hiding.keys", "1e400", "04_hiding: keys must be a positive integer, got inf"),
    ("key_search.nope", "1", "02_key_search has no parameter nope"),
]


@pytest.mark.parametrize("target,value,message", BAD, ids=[f"{t}={v}" for t, v, _ in BAD])
def test_a_wrong_override_is_refused_in_one_line_before_anything_runs(target, value, message, capsys,
                                                                      monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("work started despite a wrong override")

    monkeypatch.setattr(command, "compute", never)
    monkeypatch.setattr(book, "build", never)
    for argv in (["compute", "--preset", "cpu", "--plan"],  # --plan: even the plan is not made
                 ["compute", "--preset", "smoke", "--only", "scrambling"],  # an experiment not computed too
                 ["build", "--preset", "cpu", "--dest", "/nonexistent/never-written"]):
        assert command.main([*argv, "-p", target, value]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, (argv, err)
        with pytest.raises(PihError) as refused:  # the Python API says the same
            presets.check_overrides(argv[2], command.overrides([[target, value]]))
        assert err.endswith(f": {refused.value}")


def test_good_overrides_and_none_pass_the_check():
    good = [["classification.epochs", "None"], ["classification.recipe", "'classic'"],
            ["classification.lr", "1"], ["classification.classifier", "None"], ["hiding.epochs", "None"],
            ["key_search.methods", "['LE']"], ["classification.seeds", "[0, 1, 2]"],
            ["scrambling.split", "train"]]
    changes = command.overrides(good, "cpu")
    assert changes["03_classification"] == {"epochs": None, "recipe": "classic", "lr": 1, "classifier": None,
                                            "seeds": [0, 1, 2]}
    assert changes["00_scramblers"] == {"split": "train"}  # a bare word is taken as text
    config = runs.train_config(shards.experiment_params("classification", "cpu", changes), "PE", 0)
    assert (config.recipe, config.classifier, config.epochs, config.lr) == (
        "classic", RECIPES["classic"]["classifier"], RECIPES["classic"]["epochs"], 1)


def test_every_parameter_of_every_notebook_has_a_rule():
    for notebook, base in presets.BASE.items():
        for name in base:
            for preset in presets.PRESETS:
                presets.check(notebook, name, presets.PRESETS[preset][notebook][name])
            if name in presets.MAY_BE_NONE:
                presets.check(notebook, name, None)
            else:
                with pytest.raises(PihError, match=f"^{notebook}: {name} must be .*, got None$"):
                    presets.check(notebook, name, None)


# --- the book: papermill's injected cell ----------------------------------------------------------

def _resolved_in_notebook(notebook: str, parameters: dict) -> dict:
    """The ``P`` the notebook resolves when papermill injects ``parameters``: its parameters cell,
    papermill's injected cell and its ``P = presets.params(...)`` statement, run without the rest."""
    import jupytext
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    with tempfile.TemporaryDirectory() as tmp:  # as book.run converts it and papermill reads it
        source = Path(tmp) / f"{notebook}.ipynb"
        jupytext.write(jupytext.read(ROOT / "notebooks" / f"{notebook}.py"), source)
        nb = parameterize_notebook(load_notebook_node(str(source)), parameters, kernel_name="python3",
                                   language="python")
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    ns = {"presets": presets, "experiment": experiment(NOTEBOOK_OF[notebook])}
    for i, cell in enumerate(nb.cells):
        if "parameters" in tags[i] or "injected-parameters" in tags[i]:
            exec(cell.source, ns)
    for cell in [c for c in nb.cells if c.cell_type == "code" and "presets.params(" in c.source]:
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["P"]:
                exec(compile(ast.Module([node], []), notebook, "exec"), ns)
                return ns["P"]
    raise AssertionError(f"{notebook} has no P = presets.params(...)")


@pytest.mark.parametrize("notebook", presets.NOTEBOOKS)
def test_papermill_passes_every_parameter_and_explicit_none(notebook):
    given = book.papermill_parameters("cpu", {}, [notebook])[notebook]
    assert given == {"preset": "cpu"}
    assert _resolved_in_notebook(notebook, given) == presets.PRESETS["cpu"][notebook]  # the preset's
    for other in ("smoke", "paper"):  # every parameter given: each reaches P
        wanted = presets.PRESETS[other][notebook]
        everything = book.papermill_parameters("cpu", {notebook: wanted}, [notebook])[notebook]
        assert _resolved_in_notebook(notebook, everything) == wanted
    nullable = sorted(presets.MAY_BE_NONE & set(presets.BASE[notebook]))
    if nullable:
        changes = {notebook: {name: None for name in nullable}}
        parameters = book.papermill_parameters("cpu", changes, [notebook])[notebook]
        assert parameters == {"preset": "cpu", **changes[notebook]}  # None is passed, not dropped
        resolved = _resolved_in_notebook(notebook, parameters)
        assert all(resolved[name] is None for name in nullable)
        assert presets.PRESETS["cpu"][notebook]["epochs"] == 3 and "epochs" in nullable
        assert TrainConfig("plain", epochs=resolved["epochs"]).epochs == RECIPE_EPOCHS


def test_the_book_refuses_a_wrong_override_before_any_notebook_runs(tmp_path):
    out = tmp_path / "generated"
    for changes, message in [({"02_key_search": {"trials": 2.5}}, "trials must be a positive integer"),
                             ({"04_hiding": {"n_show": None}}, "n_show must be a positive integer, got None"),
                             ({"03_classification": {"methods": ["XX"]}}, "methods must be a list drawn")]:
        with pytest.raises(PihError, match=message):
            book.run("cpu", out, changes)
        assert not out.exists()
    assert book.papermill_parameters("cpu", {"02_key_search": {"trials": presets.NOT_GIVEN}},
                                     ["02_key_search"]) == {"02_key_search": {"preset": "cpu"}}
