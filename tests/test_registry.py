"""The type registry: MRO lookup, registration rules, aliases, type packs, lazy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from qiskit.primitives.containers import BitArray, DataBin, PubResult, SamplerPubResult
from qiskit_ibm_runtime.execution_span import ExecutionSpans, SliceSpan
from qiskit_ibm_runtime.results import EstimatorPubResult

import qserial
from qserial import REGISTRY, Node
from qserial.registry import TypeRegistry
from qserial.testing import assert_equal
from qserial.testing.strategies import missing_strategies, registered_tags


def _run_python(code: str, *, path: Path | None = None, cwd: Path | None = None) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON document as its last line."""
    env = None
    if path is not None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(path), *filter(None, [os.environ.get("PYTHONPATH")])]
        )}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, env=env, timeout=120, check=False, cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _data() -> DataBin:
    return DataBin(meas=BitArray(np.arange(4, dtype=np.uint8).reshape(4, 1), 3))


# -- MRO lookup ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "tag"),
    [(PubResult, "PubResult"), (SamplerPubResult, "SamplerPubResult"),
     (EstimatorPubResult, "EstimatorPubResult")],
)
def test_pub_result_kinds_are_never_confused(cls: type, tag: str) -> None:
    assert REGISTRY.for_type(cls).tag == tag
    pub = cls(_data(), {"shots": 4})
    assert qserial.to_tree(pub).tag == tag
    for loaded in (qserial.from_tree(qserial.to_tree(pub)), qserial.loads(qserial.dumps(pub))):
        assert type(loaded) is cls
        assert_equal(loaded, pub)


def test_subclass_is_stored_as_its_nearest_registered_base() -> None:
    class MySamplerPubResult(SamplerPubResult):
        pass

    class MyEstimatorPubResult(EstimatorPubResult):
        pass

    assert REGISTRY.for_type(MySamplerPubResult).cls is SamplerPubResult
    assert REGISTRY.for_type(MyEstimatorPubResult).cls is EstimatorPubResult
    loaded = qserial.loads(qserial.dumps(MySamplerPubResult(_data(), {})))
    assert type(loaded) is SamplerPubResult
    assert type(qserial.loads(qserial.dumps(MyEstimatorPubResult(_data(), {})))) is \
        EstimatorPubResult


def test_mro_lookup_in_a_private_registry() -> None:
    class A:
        pass

    class B(A):
        pass

    class C(B):
        pass

    reg = TypeRegistry()
    reg.register(A, "t.A", encode=lambda o: {}, decode=lambda f: A())
    reg.register(C, "t.C", encode=lambda o: {}, decode=lambda f: C())
    assert reg.for_type(B).tag == "t.A"
    assert reg.for_type(C).tag == "t.C"
    # A later registration of B is used at once (the lookup cache is refreshed).
    reg.register(B, "t.B", encode=lambda o: {}, decode=lambda f: B())
    assert reg.for_type(B).tag == "t.B"
    assert reg.for_type(C).tag == "t.C"
    assert type(qserial.from_tree(qserial.to_tree(C(), registry=reg), registry=reg)) is C


# -- registration rules ---------------------------------------------------------------


class _P:
    def __init__(self, x: int) -> None:
        self.x = x


class _Q(_P):
    pass


def test_register_conflicts_need_replace() -> None:
    reg = TypeRegistry()
    enc, dec = (lambda p: {"x": p.x}), (lambda f: _P(f["x"]))
    reg.register(_P, "p", encode=enc, decode=dec)
    reg.register(_P, "p", encode=enc, decode=dec)  # the same registration again is fine
    with pytest.raises(ValueError, match="already registered"):
        reg.register(_Q, "p", encode=enc, decode=dec)  # tag taken by another class
    with pytest.raises(ValueError, match="already registered"):
        reg.register(_P, "p2", encode=enc, decode=dec)  # class registered under another tag
    assert reg.for_tag("p").cls is _P and reg.for_tag("p2") is None

    reg.register(_Q, "p", encode=enc, decode=lambda f: _Q(f["x"]), replace=True)
    assert reg.for_tag("p").cls is _Q
    reg.register(_P, "p2", encode=enc, decode=dec, replace=True)
    assert reg.for_type(_P).tag == "p2"


def test_register_rejects_bad_arguments() -> None:
    reg = TypeRegistry()
    with pytest.raises(TypeError):
        reg.register(_P(1), "p", encode=vars, decode=vars)  # an instance, not a class
    with pytest.raises(TypeError):
        reg.register(_P, "", encode=vars, decode=vars)


def test_alias_conflicts_need_replace() -> None:
    reg = TypeRegistry()
    reg.register(_P, "p", encode=vars, decode=lambda f: _P(**f), aliases=("old.p",))
    with pytest.raises(ValueError, match=r"old\.p"):
        reg.register(_Q, "q", encode=vars, decode=lambda f: _Q(**f), aliases=("old.p",))
    assert reg.for_tag("old.p").cls is _P


def test_encode_and_decode_failures_name_the_tag_and_path() -> None:
    reg = TypeRegistry()

    def decode(fields: dict) -> _P:
        if fields["x"] < 0:
            raise ValueError("x must not be negative")
        return _P(fields["x"])

    def encode(p: _P) -> dict:
        if p.x is None:
            raise ValueError("x is missing")
        return {"x": p.x}

    reg.register(_P, "p", encode=encode, decode=decode)
    with pytest.raises(qserial.UnsupportedTypeError, match="cannot encode p") as info:
        qserial.to_tree({"items": [_P(1), _P(None)]}, registry=reg)
    assert info.value.path == "$.items[1]"
    tree = {"items": [Node("p", {"x": 1}), Node("p", {"x": -1})]}
    with pytest.raises(qserial.DecodeError, match="invalid p: x must not be negative") as info:
        qserial.from_tree(tree, registry=reg)
    assert info.value.path == "$.items[1]"


@pytest.mark.parametrize("tag, value, known", [
    ("BitArray", {"array": np.zeros((2, 1), np.uint8), "num_bits": 3, "bit_order": "big"},
     "array, num_bits"),
    ("SamplerPubResult", {"data": Node("DataBin", {"fields": {}}), "metadata": {}, "extra": 1},
     "data, metadata"),
    ("ExecutionSpans", {"spans": [], "version": 2}, "spans"),
])
def test_unknown_fields_of_a_builtin_type_are_refused(tag: str, value: dict,
                                                       known: str) -> None:
    # Dropping a field qserial does not know would lose data without a word.
    with pytest.raises(qserial.DecodeError, match=f"{tag} has unknown field.*known: {known}"
                       ) as info:
        qserial.from_tree({"x": [Node(tag, value)]})
    assert info.value.path == "$.x[0]"
    # The fields qserial knows, optional ones included, decode as before.
    del value[next(k for k in value if k not in known.split(", "))]
    qserial.from_tree(Node(tag, value))


# -- aliases --------------------------------------------------------------------------


def test_old_tags_are_read_as_the_current_type() -> None:
    spans = REGISTRY.for_tag("ExecutionSpans")
    assert REGISTRY.for_tag("ExecutionSpanCollection") is spans
    assert "ExecutionSpanCollection" in spans.aliases
    assert REGISTRY.for_tag("ExecutionSpan").cls is SliceSpan

    old = '{"__type__": "ExecutionSpanCollection", "__value__": {"spans": []}}'
    loaded = qserial.loads(old)
    assert type(loaded) is ExecutionSpans and len(loaded) == 0
    # ... and written under the current tag only.
    assert json.loads(qserial.dumps(loaded))["__type__"] == "ExecutionSpans"
    assert qserial.to_tree(loaded).tag == "ExecutionSpans"


def test_aliases_are_not_separate_tags() -> None:
    tags = registered_tags()
    assert "ExecutionSpans" in tags and "ExecutionSpanCollection" not in tags


# -- user classes and type packs -----------------------------------------------------


def test_user_class_round_trip_through_public_api() -> None:
    # A fresh interpreter keeps the process-wide registry of this test run untouched.
    out = _run_python("""
        import json, qserial

        class Point:
            def __init__(self, x, y):
                self.x, self.y = x, y

        class Point3(Point):
            pass

        qserial.register_type(Point, "example.Point",
                              encode=lambda p: {"x": p.x, "y": p.y},
                              decode=lambda f: Point(f["x"], f["y"]))
        p = qserial.loads(qserial.dumps({"where": [Point(1, (2.5, None))]}))["where"][0]
        sub = qserial.loads(qserial.dumps(Point3(3, 4)))
        print(json.dumps({"type": type(p).__name__, "x": p.x, "y": p.y,
                          "sub": type(sub).__name__}))
    """)
    # Tuples become lists in JSON; the subclass is stored as its registered base.
    assert out == {"type": "Point", "x": 1, "y": [2.5, None], "sub": "Point"}


def _type_packs(tmp_path: Path) -> Path:
    (tmp_path / "goodpack.py").write_text(textwrap.dedent("""
        import qserial

        class Thing:
            def __init__(self, x):
                self.x = x

        class Settings(dict):
            pass  # a subclass of a type qserial already knows

        def register():
            qserial.register_type(Thing, "goodpack.Thing", encode=lambda t: {"x": t.x},
                                  decode=lambda f: Thing(f["x"]))
            qserial.register_type(Settings, "goodpack.Settings", encode=dict,
                                  decode=Settings)

        def explode():
            raise RuntimeError("this type pack is broken")
    """))
    packs = {
        "goodpack": "[qserial.types]\ngoodpack = goodpack:register\n",
        "brokenpack": "[qserial.types]\nbroken = goodpack:explode\n",
        "missingpack": "[qserial.types]\nmissing = no_such_module_here:register\n",
    }
    for name, entry_points in packs.items():
        info = tmp_path / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(entry_points)
    return tmp_path


_PACK_SCRIPT = """
    import json, sys, warnings
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        import qserial
        before = "goodpack" in sys.modules
        if {encode_first}:
            from goodpack import Settings, Thing
            # Settings is a dict: its pack must still be asked before "dict" is used.
            obj, settings = qserial.loads(qserial.dumps([Thing(7), Settings(a=1)]))
        else:
            obj, settings = qserial.loads(
                '[{{"__type__": "goodpack.Thing", "__value__": {{"x": 7}}}}, '
                '{{"__type__": "goodpack.Settings", "__value__": {{"a": 1}}}}]')
        builtin = qserial.loads(qserial.dumps((1, 2j)))
    print(json.dumps({{
        "before": before, "type": type(obj).__name__, "x": obj.x,
        "settings": [type(settings).__name__, settings],
        "builtin": repr(builtin), "warnings": [str(w.message) for w in caught],
    }}))
"""


@pytest.mark.parametrize("encode_first", [False, True])
def test_entry_point_type_pack(tmp_path: Path, encode_first: bool) -> None:
    out = _run_python(_PACK_SCRIPT.format(encode_first=encode_first), path=_type_packs(tmp_path))
    assert out["before"] is False  # nothing imports a type pack until it is needed
    assert out["type"] == "Thing" and out["x"] == 7
    assert out["settings"] == ["Settings", {"a": 1}]
    assert out["builtin"] == "[1, 2j]"
    # The broken packs warn, by name, and leave the good one working.
    messages = " ".join(out["warnings"])
    assert "'broken'" in messages and "this type pack is broken" in messages
    assert "'missing'" in messages and "no_such_module_here" in messages


def test_runtime_subclass_is_not_taken_for_its_qiskit_base() -> None:
    # Once the qiskit entries are loaded, EstimatorPubResult's MRO already matches
    # PubResult; the runtime entries must still be loaded and win.
    out = _run_python("""
        import json
        import numpy as np
        import qserial
        from qiskit.primitives.containers import BitArray, DataBin, PubResult
        data = DataBin(meas=BitArray(np.zeros((2, 1), np.uint8), 3))
        qserial.dumps(PubResult(data))
        from qiskit_ibm_runtime.results import EstimatorPubResult
        tree = qserial.to_tree(EstimatorPubResult(data))
        print(json.dumps(tree.tag))
    """)
    assert out == "EstimatorPubResult"


# -- lazy imports ----------------------------------------------------------------------

_HEAVY = ("qiskit", "qiskit_ibm_runtime", "h5py", "pyarrow", "msgpack")


def test_import_qserial_imports_nothing_heavy() -> None:
    out = _run_python(f"""
        import json, sys
        import qserial
        print(json.dumps([m for m in {_HEAVY!r} if m in sys.modules]))
    """)
    assert out == []


def test_builtin_values_need_no_qiskit(tmp_path: Path) -> None:
    out = _run_python(f"""
        import datetime, json, sys
        import numpy as np
        import qserial
        obj = {{"t": (1, 2), "s": {{3}}, "z": 1j, "d": datetime.datetime(2025, 1, 1),
               "k": {{1: "a"}}, "n": np.float32(2), "a": np.arange(3), "b": b"x"}}
        qserial.dump(obj, {str(tmp_path / "builtin.json")!r})
        loaded = qserial.load({str(tmp_path / "builtin.json")!r})
        assert loaded["z"] == 1j and loaded["s"] == {{3}} and loaded["a"].tolist() == [0, 1, 2]
        print(json.dumps([m for m in ("qiskit", "qiskit_ibm_runtime") if m in sys.modules]))
    """)
    assert out == []


def test_qiskit_tags_load_their_provider_on_demand() -> None:
    out = _run_python("""
        import json, sys
        import numpy as np
        import qserial
        # Written from a bare tree, so the writing side needs no qiskit either.
        doc = qserial.dumps(qserial.Node("BitArray", {
            "array": np.array([[1], [2]], dtype=np.uint8), "num_bits": 3}))
        assert "qiskit" not in sys.modules
        bits = qserial.loads(doc)
        print(json.dumps({"qiskit": "qiskit" in sys.modules,
                          "runtime": "qiskit_ibm_runtime" in sys.modules,
                          "type": type(bits).__name__, "counts": bits.get_counts()}))
    """)
    assert out == {"qiskit": True, "runtime": False, "type": "BitArray",
                   "counts": {"001": 1, "010": 1}}


# -- the table of built-in types -------------------------------------------------------

_BUILTIN_CHECK = """
    import importlib, json
    import qserial
    from qserial.registry import BUILTIN_TYPES, TypeRegistry
    from qserial.testing import assert_equal
    from tests import golden_gen
    from tests.test_golden import golden_files

    def resolve(path):
        module, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module), name)

    problems, files = [], 0
    for tag, builtin in BUILTIN_TYPES.items():
        # A registry of its own for each tag: no other tag may have loaded the provider.
        entry = TypeRegistry().for_tag(tag)
        if entry is None or tag not in (entry.tag, *entry.aliases):
            problems.append(f"tag {tag}: {entry}")
            continue
        if entry.cls is not resolve(builtin.cls):
            problems.append(f"tag {tag}: class {entry.cls} is not {builtin.cls}")
        if tag == entry.tag and TypeRegistry().for_type(entry.cls) is None:
            problems.append(f"class {builtin.cls} does not load its provider")
    for fmt, name, path in golden_files():
        if name not in BUILTIN_TYPES or fmt not in qserial.list_formats():
            continue
        files += 1
        got = qserial.from_tree(qserial.load_tree(path), registry=TypeRegistry())
        try:
            assert_equal(got, golden_gen.build(name),
                         exact=fmt not in golden_gen.LOSSY_FORMATS)
        except AssertionError as exc:
            problems.append(f"{path}: {exc}")
    everything = TypeRegistry()
    everything.load_all()
    print(json.dumps({"problems": problems, "files": files,
                      "tags": sorted(everything.tags), "declared": sorted(BUILTIN_TYPES)}))
"""


def test_every_builtin_tag_decodes_in_a_fresh_interpreter() -> None:
    # Only the table can load a provider there: the tests here have imported them all.
    out = _run_python(_BUILTIN_CHECK, cwd=Path(__file__).resolve().parents[1])
    assert out["problems"] == []
    assert out["files"] >= 4 * 20  # the golden files of the built-in tags were found
    assert out["tags"] == out["declared"]  # every registered tag is declared, and no more


def test_a_provider_is_tried_again_after_its_import_failed() -> None:
    out = _run_python("""
        import builtins, json
        import qserial
        from qserial.registry import TypeRegistry

        real_import = builtins.__import__
        def no_runtime(name, *args, **kwargs):
            if name.startswith("qiskit_ibm_runtime"):
                raise ImportError("qiskit-ibm-runtime is being upgraded")
            return real_import(name, *args, **kwargs)

        doc = '{"__type__": "ExecutionSpans", "__value__": {"spans": []}}'
        builtins.__import__ = no_runtime
        try:
            qserial.loads(doc)
        except qserial.UnknownTagError as exc:
            first = str(exc)
        lenient = qserial.loads(doc, strict=False)
        builtins.__import__ = real_import
        spans = qserial.loads(doc)
        print(json.dumps({"first": first, "lenient": type(lenient).__name__,
                          "then": type(spans).__name__}))
    """)
    assert "qserial.types.runtime failed to load" in out["first"]
    assert "being upgraded" in out["first"]
    assert out["lenient"] == "UnknownObject"
    assert out["then"] == "ExecutionSpans"


def test_a_provider_registering_an_undeclared_tag_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from qserial import registry as registry_module

    provider = types.ModuleType("tests_fake_provider")

    def register(reg: TypeRegistry) -> None:
        reg.register(_P, "tests.undeclared", encode=vars, decode=lambda f: _P(**f))

    provider.register = register
    monkeypatch.setitem(sys.modules, "tests_fake_provider", provider)
    monkeypatch.setattr(registry_module, "BUILTIN_TYPES", {
        **registry_module.BUILTIN_TYPES,
        "tests.declared": registry_module.Builtin("tests_fake_provider", "tests._P")})
    with pytest.raises(RuntimeError, match=r"tests\.undeclared.*BUILTIN_TYPES"):
        TypeRegistry().for_tag("tests.declared")


# -- strategy coverage -------------------------------------------------------------------


def test_every_registered_tag_has_a_strategy() -> None:
    assert missing_strategies() == []


def test_a_tag_without_strategy_is_reported() -> None:
    reg = TypeRegistry()
    reg.register(_P, "tests.no_strategy", encode=vars, decode=lambda f: _P(**f))
    assert missing_strategies(reg) == ["tests.no_strategy"]


def test_type_packs_add_strategies_for_their_tags() -> None:
    from hypothesis import strategies as st

    from qserial.testing.strategies import for_tag, register_strategy

    reg = TypeRegistry()
    reg.register(_P, "tests.with_strategy", encode=vars, decode=lambda f: _P(**f))
    assert missing_strategies(reg) == ["tests.with_strategy"]
    with pytest.raises(KeyError, match="register_strategy"):
        for_tag("tests.with_strategy")

    points = st.builds(_P, st.integers())
    register_strategy("tests.with_strategy", lambda: points)  # a factory, called on first use
    assert missing_strategies(reg) == []
    assert for_tag("tests.with_strategy") is points
    with pytest.raises(ValueError, match="exists already"):
        register_strategy("tests.with_strategy", st.none())
    other = st.builds(_P, st.none())
    register_strategy("tests.with_strategy", other, replace=True)
    assert for_tag("tests.with_strategy") is other
    with pytest.raises(TypeError):
        register_strategy("tests.other", 42, replace=True)


def test_aliases_have_the_strategy_of_their_current_tag() -> None:
    from qserial.testing.strategies import for_tag

    assert for_tag("ExecutionSpanCollection") is for_tag("ExecutionSpans")
