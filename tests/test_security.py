"""A file never makes qserial import, call or unpickle anything it names.

RuntimeEncoder's generic ``settings`` and ``_json`` objects carry a module and class
name that RuntimeDecoder imports and calls; its only guard is a name prefix
("qiskit.quantum_info.operators"), which a module planted under that package passes.
qserial reads a closed list of (kind, module, class) triples and refuses the rest.

The import checks run in a fresh interpreter with an audit hook, so "nothing was
imported" is observed rather than assumed, and the same plant is shown to work
against RuntimeDecoder (the check can fail).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qiskit.quantum_info import Kraus, Operator, Pauli, SparsePauliOp

import qserial
from qserial import ForbiddenTypeError, UnknownObject, UnknownTagError
from qserial.testing import assert_equal
from tests import _results

PROBE = "qserial_probe_evil"


def _named(kind: str, module: str, cls: str, value: Any = None) -> dict:
    return {"__type__": kind, "__module__": module, "__class__": cls,
            "__value__": {"data": ["X"]} if value is None else value}


FORBIDDEN = {
    "settings-os": _named("settings", "os", "system", {"command": "true"}),
    "settings-probe": _named("settings", PROBE, "Evil"),
    "settings-prefix-trick": _named("settings", f"qiskit.quantum_info.operators.{PROBE}", "Evil"),
    "settings-allowed-module-other-class": _named(
        "settings", "qiskit.quantum_info.operators.symplectic.pauli_list", "BasePauli"),
    "settings-pauli-list-elsewhere": _named(
        "settings", "qiskit.quantum_info.operators.symplectic.pauli", "PauliList"),
    "settings-sparse-pauli-op-elsewhere": _named(
        "settings", "qiskit.quantum_info.operators.symplectic.pauli", "SparsePauliOp"),
    "settings-pauli-in-sparse-module": _named(
        "settings", "qiskit.quantum_info.operators.symplectic.sparse_pauli_op", "Pauli"),
    "settings-clifford": _named(
        "settings", "qiskit.quantum_info.operators.symplectic.clifford", "Clifford"),
    "settings-statevector": _named(
        "settings", "qiskit.quantum_info.states.statevector", "Statevector", {"data": [1]}),
    "settings-operator-elsewhere": _named(
        "settings", "qiskit.quantum_info.operators.channel.choi", "Operator"),
    "settings-probe-named-sparse-pauli-op": _named(
        "settings", f"qiskit.quantum_info.operators.{PROBE}", "SparsePauliOp"),
    "json-probe": _named("_json", PROBE, "Evil"),
    "json-noise-module-other-class": _named(
        "_json", "qiskit_ibm_runtime.results.noise_learner", "NoiseLearnerResult"),
    "json-subprocess": _named("_json", "subprocess", "Popen", {"args": ["true"]}),
    "settings-no-module": {"__type__": "settings", "__value__": {}},
}


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
@pytest.mark.parametrize("strict", [True, False])
def test_named_objects_are_forbidden(name: str, strict: bool) -> None:
    doc = {"safe": 1, "payload": [FORBIDDEN[name]]}
    with pytest.raises(ForbiddenTypeError) as info:
        qserial.loads(json.dumps(doc), strict=strict)
    assert info.value.path == "$.payload[0]"


def test_forbidden_object_in_result_metadata_names_its_path() -> None:
    doc = json.loads(qserial.dumps(_results.sampler_result()))
    doc["__value__"]["pub_results"][1]["__value__"]["metadata"]["x"] = FORBIDDEN["settings-probe"]
    with pytest.raises(ForbiddenTypeError) as info:
        qserial.loads(json.dumps(doc), verify=False)  # edited: the digest differs
    assert info.value.path == "$.pub_results[1].metadata.x"


# RuntimeDecoder tags whose values go to other libraries' readers are not qserial's.
@pytest.mark.parametrize("tag", ["to_json", "spmatrix"])
def test_other_runtime_tags_are_unknown(tag: str) -> None:
    text = json.dumps({"x": {"__type__": tag, "__value__": "eJwDAAAAAAE="}})
    with pytest.raises(UnknownTagError):
        qserial.loads(text)
    kept = qserial.loads(text, strict=False)["x"]
    assert type(kept) is UnknownObject and kept.value == "eJwDAAAAAAE="


# Tags qserial reads through fixed decoders: a wrong value is a DecodeError, never a call
# into whatever the value names.
@pytest.mark.parametrize("tag", ["Result", "NoiseModel", "Parameter", "Instruction",
                                 "BindingsArray", "ObservablesArray", "PauliLindbladMap"])
def test_known_runtime_tags_check_their_values(tag: str) -> None:
    if tag == "NoiseModel":
        pytest.importorskip("qiskit_aer")
    text = json.dumps({"x": {"__type__": tag, "__value__": "eJwDAAAAAAE="}})
    with pytest.raises(qserial.DecodeError) as info:
        qserial.loads(text)
    assert info.value.path == "$.x"


# -- the allowed pairs ---------------------------------------------------------------------


def test_pauli_list_settings_loads() -> None:
    from qiskit.quantum_info import PauliList

    doc = _named("settings", "qiskit.quantum_info.operators.symplectic.pauli_list",
                 "PauliList", {"data": ["IXZ", "-iYYI"]})
    assert qserial.loads(json.dumps(doc)) == PauliList(["IXZ", "-iYYI"])


def test_allowed_settings_classes_load() -> None:
    from qiskit_ibm_runtime import RuntimeEncoder

    for op in (SparsePauliOp(["XYZX", "IIZZ"], coeffs=[2.0, 1 + 2j]), Pauli("-iXYZ"),
               Operator(np.eye(2)), Kraus(Operator(np.eye(2)))):
        text = json.dumps({"op": op}, cls=RuntimeEncoder)
        assert '"__type__": "settings"' in text
        assert qserial.loads(text)["op"] == op
        ours = json.loads(qserial.dumps({"op": op}))["op"]  # written as RuntimeEncoder does
        assert {k: v for k, v in ours.items() if k != "__value__"} == {
            k: v for k, v in json.loads(text)["op"].items() if k != "__value__"}


def test_allowed_settings_do_not_open_nested_names() -> None:
    doc = _named("settings", "qiskit.quantum_info.operators.symplectic.sparse_pauli_op",
                 "SparsePauliOp", {"data": FORBIDDEN["settings-probe"], "coeffs": [1.0]})
    with pytest.raises(ForbiddenTypeError) as info:
        qserial.loads(json.dumps({"op": doc}))
    assert info.value.path == "$.op.data"


@pytest.mark.parametrize("module", ["qiskit_ibm_runtime.utils.noise_learner_result",
                                    "qiskit_ibm_runtime.results.noise_learner"])
def test_noise_learner_pairs_load_under_both_module_names(module: str) -> None:
    result = _results.noise_learner_result()
    text = qserial.dumps(result).decode()
    assert "qiskit_ibm_runtime.utils.noise_learner_result" in text  # as RuntimeEncoder writes
    text = text.replace("qiskit_ibm_runtime.utils.noise_learner_result", module)
    assert_equal(qserial.loads(text, verify=False), result)  # edited: the digest differs


# -- nothing named by a file is imported: observed in a fresh interpreter -------------------

_PLANT = """\
import pathlib
import {dep}
pathlib.Path({sentinel!r}).write_text("imported")

class Evil:
    def __init__(self, **kwargs):
        pathlib.Path({sentinel!r}).write_text("called")
"""

_CHILD = textwrap.dedent("""\
    import json, sys
    plant, sentinel, reader = sys.argv[1], sys.argv[2], sys.argv[3]
    sys.path.insert(0, plant)
    import qiskit.quantum_info.operators as ops
    ops.__path__.append(plant + "/operators")  # a module "under" the trusted prefix

    seen = []
    def hook(event, args):
        if event == "import" and "probe" in str(args[0]):
            seen.append(["import", str(args[0])])
        elif event == "exec" and plant in str(getattr(args[0], "co_filename", "")):
            seen.append(["exec", args[0].co_filename])
        elif event == "open" and str(args[0]).startswith(plant) and str(args[0]).endswith(".py"):
            seen.append(["open", str(args[0])])
    sys.addaudithook(hook)

    docs = json.loads(sys.stdin.read())
    outcomes = []
    for doc in docs:
        text = json.dumps(doc)
        try:
            if reader == "qserial":
                import qserial
                qserial.loads(text)
                outcomes.append("loaded")
            else:
                from qiskit_ibm_runtime import RuntimeDecoder
                json.loads(text, cls=RuntimeDecoder)
                outcomes.append("loaded")
        except Exception as exc:
            outcomes.append(type(exc).__name__)
    print(json.dumps({"outcomes": outcomes, "seen": seen}))
""")


def _plant(root: Path, sentinel: Path) -> Path:
    plant = root / "plant"
    (plant / "operators").mkdir(parents=True)
    for folder in (plant, plant / "operators"):
        (folder / f"{PROBE}.py").write_text(
            _PLANT.format(dep=f"{PROBE}_dep", sentinel=str(sentinel)))
    (plant / f"{PROBE}_dep.py").write_text("")
    return plant


def _run_child(tmp_path: Path, reader: str, docs: list) -> tuple[dict, Path]:
    sentinel = tmp_path / f"sentinel-{reader}"
    # Own folders: the script's folder goes first on the child's sys.path.
    plant = _plant(tmp_path / "planted", sentinel)
    (tmp_path / "child").mkdir()
    script = tmp_path / "child" / "child.py"
    script.write_text(_CHILD)
    proc = subprocess.run(
        [sys.executable, str(script), str(plant), str(sentinel), reader],
        input=json.dumps(docs), capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), sentinel


_PLANTED_DOCS = [
    {"metadata": FORBIDDEN["settings-prefix-trick"]},
    {"metadata": FORBIDDEN["settings-probe-named-sparse-pauli-op"]},
    {"metadata": _named("settings", "qiskit.quantum_info.operators.symplectic.sparse_pauli_op",
                        "SparsePauliOp", {"data": FORBIDDEN["settings-prefix-trick"],
                                          "coeffs": [1.0]})},
    {"metadata": FORBIDDEN["settings-probe"]},
    {"metadata": FORBIDDEN["json-probe"]},
]


def test_qserial_imports_nothing_a_file_names(tmp_path: Path) -> None:
    report, sentinel = _run_child(tmp_path, "qserial", _PLANTED_DOCS)
    assert report["outcomes"] == ["ForbiddenTypeError"] * len(_PLANTED_DOCS)
    assert report["seen"] == []
    assert not sentinel.exists()


def test_the_plant_works_against_runtime_decoder(tmp_path: Path) -> None:
    # The control: RuntimeDecoder's prefix check lets the planted module through.
    report, sentinel = _run_child(tmp_path, "runtime", _PLANTED_DOCS[:1])
    assert sentinel.exists()
    assert ["import", f"{PROBE}_dep"] in report["seen"]
    assert any(event == "exec" for event, _ in report["seen"])
