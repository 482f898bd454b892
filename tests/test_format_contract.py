"""The format contract: declared options, configured formats, capabilities, header kit."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

import qserial
from qserial import Capability, FormatOptionError, Limits, Option, UnsupportedVersionError
from qserial.formats import READ, check_version, get_format, writer_versions
from qserial.formats.json import JSONFormat
from qserial.testing.conformance import real_results

# -- Option ------------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "good", "bad"), [
    (Option("level", int, 3, min=1, max=22), [1, 22, True.__index__()], [0, 23, 2.5, "3", True]),
    (Option("ratio", float, 1.5, min=0), [0, 2, 1e9], [-1, "x", float("nan"), None]),
    (Option("codec", str, "none", choices=("none", "zstd")), ["zstd"], ["lz4", 1, None]),
    (Option("level", int, None, nullable=True), [None, 5], ["5", 1.0]),
    (Option("flag", bool, False), [True, False], [0, 1, "true", None]),
    (Option("compression", (str, int), "auto", choices=("auto", 0, 1)), ["auto", 0, 1],
     [2, "off", True, 1.0]),
])
def test_option_validation(option: Option, good: list, bad: list) -> None:
    for value in good:
        assert option.validate(value, "f") == value
    for value in bad:
        with pytest.raises(FormatOptionError, match=option.name):
            option.validate(value, "f")


def test_option_keeps_plain_values() -> None:
    np = pytest.importorskip("numpy")
    level = Option("level", int, 3)
    assert type(level.validate(np.int64(4), "f")) is int
    assert type(Option("x", float, 0.5).validate(np.float32(2), "f")) is float
    assert Option("b", bool, False).validate(np.bool_(True), "f") is True


@pytest.mark.parametrize(("option", "text", "value"), [
    (Option("level", int, None, nullable=True), "7", 7),
    (Option("level", int, None, nullable=True), "none", None),
    (Option("ratio", float, 1.0, nullable=True), "2.5", 2.5),
    (Option("flag", bool, False), "yes", True),
    (Option("flag", bool, True), "0", False),
    (Option("compression", (str, int), "auto", choices=("auto", *range(10))), "6", 6),
    (Option("compression", (str, int), "auto", choices=("auto", *range(10))), "auto", "auto"),
    (Option("codec", str, "none"), "null", "null"),  # not nullable: the text itself
])
def test_option_parses_command_line_text(option: Option, text: str, value: Any) -> None:
    assert option.parse(text, "f") == value
    assert type(option.parse(text, "f")) is type(value)


def test_option_declarations_are_checked_when_made() -> None:
    with pytest.raises(TypeError, match="invalid value"):
        Option("level", int, 0, min=1)
    with pytest.raises(TypeError, match="type"):
        Option("level", list, [])
    with pytest.raises(TypeError, match="invalid value"):
        Option("codec", str, "none", choices=("none", "zstd"), sweep=("lz4",))


# -- a format of its own -----------------------------------------------------------------


class Toy(JSONFormat):
    """JSON with two options of its own, to see the contract at work."""

    name = "toy"
    suffixes = (".toy",)
    options = (
        *JSONFormat.options,
        Option("codec", str, "none", "a codec", choices=("none", "zstd", "lz4"),
               sweep=("zstd", "lz4")),
        Option("level", int, None, "a level", nullable=True, min=1, max=22, sweep=(1, 9),
               when={"codec": ("zstd",)}),
        Option("chunk", int, 1 << 20, "read in pieces of this size", min=1, role=READ),
    )

    def check_options(self, config: Any) -> None:
        if config["level"] is not None and config["codec"] == "none":
            raise FormatOptionError("level needs a codec")


def test_configured_format_is_validated_once_and_immutable() -> None:
    fmt = Toy(codec="zstd", level=3)
    assert fmt.config["codec"] == "zstd" and fmt.config["level"] == 3
    assert Toy().config["codec"] == "none"  # the class's defaults are untouched
    with pytest.raises(TypeError):
        fmt.config["codec"] = "lz4"  # type: ignore[index]
    changed = fmt.with_options(level=9)
    assert (changed.config["level"], fmt.config["level"]) == (9, 3)
    assert fmt.with_options() is fmt
    assert repr(changed) == "<qserial format 'toy' codec='zstd' level=9>"
    with pytest.raises(FormatOptionError, match="level needs a codec"):
        Toy(level=3)


def test_unknown_option_lists_every_option_with_type_and_default() -> None:
    with pytest.raises(FormatOptionError) as info:
        Toy(levle=3)
    message = str(info.value)
    assert "has no option 'levle'" in message
    assert "codec: str in {'none', 'zstd', 'lz4'}, default 'none' -- a codec" in message
    assert "level: int or None 1..22, default None -- a level" in message
    assert "verify: bool, default True" in message
    assert message.index("codec:") < message.index("verify:")  # its own options first


def test_bad_value_lists_every_option() -> None:
    with pytest.raises(FormatOptionError) as info:
        Toy(codec="zstd", level=99)
    message = str(info.value)
    assert message.startswith("invalid value 99 for option 'level' of format 'toy': "
                              "expected int or None 1..22")
    assert "codec: str in" in message and "max_bytes: int 0.." in message


def test_roles_keep_read_and_write_options_apart() -> None:
    fmt = Toy(codec="lz4", chunk=4096, verify=False, max_expansion=None)
    assert fmt.write_options() == {"compression": "auto", "indent": None, "codec": "lz4",
                                   "level": None}
    read = fmt.read_options()
    assert read["chunk"] == 4096 and read["verify"] is False
    assert read["limits"] == Limits(max_expansion=None)
    with pytest.raises(FormatOptionError, match="'chunk' is a read option"):
        fmt.write_options({"chunk": 1})
    with pytest.raises(FormatOptionError, match="'codec' is a write option"):
        fmt.read_options({"codec": "zstd"})
    limits = Limits(max_bytes=10, max_expansion=2)
    assert fmt.read_options({"limits": limits})["limits"] == limits
    with pytest.raises(FormatOptionError, match=r"qserial\.Limits"):
        fmt.read_options({"limits": {"max_bytes": 1}})


def test_config_round_trips_through_json() -> None:
    fmt = Toy(codec="zstd", level=5, max_expansion=None)
    config = json.loads(json.dumps(fmt.get_config()))
    assert config["format"] == "toy"
    assert Toy.from_config(config) == fmt
    assert hash(Toy.from_config(config)) == hash(fmt)
    assert get_format(Toy, **{k: v for k, v in config.items() if k != "format"}) == fmt
    with pytest.raises(FormatOptionError, match="for format 'json', not 'toy'"):
        Toy.from_config({"format": "json"})
    assert get_format(get_format("json", indent=1).get_config()) == get_format("json", indent=1)
    with pytest.raises(FormatOptionError, match="naming its 'format'"):
        get_format({"indent": 1})


def test_sweep_enumerates_declared_values_only_where_they_apply() -> None:
    combos = Toy.sweep_configs()
    assert {"codec": "zstd"} in combos and {"codec": "lz4"} in combos
    assert {"codec": "zstd", "level": 9} in combos
    assert not any("level" in c and c.get("codec") != "zstd" for c in combos)
    assert {"compression": 1, "codec": "lz4"} in combos  # JSON's own sweep, combined
    assert {} not in combos
    assert len(combos) == len({json.dumps(c, sort_keys=True) for c in combos})


def test_options_reserved_and_duplicate_names_are_refused() -> None:
    for name in ("verify", "manifest", "pubs", "format", "limits"):
        with pytest.raises(TypeError, match="reserved"):
            type("Bad", (qserial.Format,), {"options": (Option(name, int, 0),)})
    with pytest.raises(TypeError, match="unknown 'codec'"):
        type("Bad", (qserial.Format,), {"options": (Option("level", int, 0,
                                                           when={"codec": ("a",)}),)})


# -- capabilities ------------------------------------------------------------------------


def test_capabilities_are_declared() -> None:
    assert get_format("json").capabilities == {Capability.MANIFEST, Capability.HEADER}
    assert get_format("json").supports("header") and not get_format("json").supports_partial

    class Partial(qserial.Format):
        capabilities = frozenset({"partial", Capability.MANIFEST})

    assert Partial.capabilities == {Capability.PARTIAL, Capability.MANIFEST,
                                    Capability.HEADER}  # a manifest is read from a header
    with pytest.raises(TypeError, match="capabilities"):
        type("Bad", (qserial.Format,), {"capabilities": frozenset({"teleport"})})


def test_the_first_contracts_boolean_attributes_still_declare() -> None:
    class Old(qserial.Format):
        supports_partial = True
        supports_manifest = False

    assert Old.capabilities == {Capability.PARTIAL}
    assert Old().supports_partial and not Old().supports_manifest


def test_read_header_needs_the_capability() -> None:
    class Headless(Toy):
        name = "headless"
        capabilities = frozenset()

        def read_header(self, stream: Any) -> dict:  # overriding declares nothing
            return {}

    data = qserial.dumps(real_results()["sampler"], format=Toy)
    with pytest.raises(qserial.UnsupportedFeatureError, match="header"):
        qserial.read_header(io.BytesIO(data), format=Headless)


# -- the header kit ----------------------------------------------------------------------


def test_header_records_versions_and_options() -> None:
    fmt = Toy(codec="lz4", indent=1)
    header = fmt.new_header(manifest={"run": 1})
    assert list(header) == ["format", "version", "writer", "options", "manifest"]
    assert header["format"] == "qserial-json"  # the header_name JSON inherits
    assert header["writer"] == writer_versions()  # Toy declares no distribution
    assert header["options"] == fmt.write_options()
    data = qserial.dumps(real_results()["sampler"], format=fmt)
    assert qserial.read_header(io.BytesIO(data))["options"]["indent"] == 1


def test_writer_versions_name_the_plugin_and_its_backend() -> None:
    class Plugin(qserial.Format):
        distribution = "qserial-msgpack-missing"
        backends = ("numpy",)

    versions = writer_versions(Plugin)
    assert list(versions)[:4] == ["qserial", "qiskit", "qiskit-ibm-runtime", "numpy"]
    assert versions["qserial-msgpack-missing"] is None  # not installed: recorded as such
    assert versions["qserial"] == qserial.__version__


@pytest.mark.parametrize(("version", "parsed"), [("1.0", (1, 0)), ("1.99", (1, 99)),
                                                 ("1", (1, 0))])
def test_check_version_reads_this_major(version: str, parsed: tuple) -> None:
    assert check_version(version, JSONFormat) == parsed


def test_check_version_refuses_a_newer_major_naming_both_and_the_package() -> None:
    class Plugin(qserial.Format):
        name = "plug"
        version = "3.2"
        distribution = "qserial-plug"

    with pytest.raises(UnsupportedVersionError) as info:
        check_version("4.0", Plugin)
    assert str(info.value) == ("the file is in plug format version 4.0; qserial-plug reads "
                               "versions up to 3.x (it writes 3.2): upgrade qserial-plug "
                               "(at $)")
    for bad in ("x.1", 1, None, "1.0.0", "0.9", "-1.0", "1.a"):
        with pytest.raises(qserial.DecodeError, match="format version"):
            check_version(bad, Plugin)


# -- the API -----------------------------------------------------------------------------


def test_dump_takes_a_configured_format_and_keyword_options_override(tmp_path: Any) -> None:
    result = real_results()["sampler"]
    fmt = get_format("json", indent=2)
    path = tmp_path / "r.json"
    qserial.dump(result, path, format=fmt)
    assert qserial.read_header(path)["options"] == {"compression": "auto", "indent": 2}
    qserial.dump(result, path, format=fmt, indent=None)
    assert qserial.read_header(path)["options"]["indent"] is None
    assert fmt.config["indent"] == 2  # the configured format is unchanged
    qserial.dump(result, path, compression=0)  # the suffix's format, configured
    assert qserial.read_header(path)["options"]["compression"] == 0


def test_option_mistakes_are_reported_before_writing(tmp_path: Any) -> None:
    path = tmp_path / "r.json"
    path.write_bytes(b"old")
    with pytest.raises(FormatOptionError, match="'verify' is a read option"):
        qserial.dump({"a": 1}, path, verify=False)
    with pytest.raises(FormatOptionError, match="no option 'level'"):
        qserial.dump({"a": 1}, path, level=3)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_load_takes_limits_as_one_object(tmp_path: Any) -> None:
    import numpy as np

    value = {"zeros": np.zeros(64 << 20, np.uint8)}  # 64 MiB that zlib-9 makes ~64 kB
    data = qserial.dumps(value, compression=9)
    with pytest.raises(qserial.LimitExceededError, match="max_expansion"):
        qserial.loads(data)
    loaded = qserial.loads(data, limits=Limits(max_expansion=None))
    assert loaded["zeros"].shape == (64 << 20,)
    assert qserial.loads(data, max_expansion=None)["zeros"].nbytes == 64 << 20
    with pytest.raises(qserial.LimitExceededError):
        qserial.loads(data, limits=Limits(max_expansion=None, max_array_bytes=1 << 20))
    with pytest.raises(FormatOptionError, match="'compression' is a write option"):
        qserial.loads(data, compression=1)


def test_dump_durable_false_skips_fsync_and_stays_atomic(tmp_path: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    result = real_results()["sampler"]
    path = tmp_path / "r.json"
    qserial.dump(result, path)
    assert len(synced) == 2  # the file, then its folder
    synced.clear()
    qserial.dump(result, path, durable=False, indent=1)
    qserial.dump_tree(qserial.to_tree(result), tmp_path / "t.json", durable=False)
    assert synced == []
    assert qserial.read_header(path)["options"]["indent"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "t.json"]
    with pytest.raises(Exception, match="boom"):  # a failed write leaves the old file
        qserial.dump(result, path, durable=False, format=_Failing)
    assert qserial.read_header(path)["options"]["indent"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "t.json"]


class _Failing(JSONFormat):
    name = "failing"

    def dump_path(self, tree: Any, path: str, **options: Any) -> None:
        super().dump_path(tree, path, **options)
        raise RuntimeError("boom")


def test_archive_takes_a_configured_format(tmp_path: Any) -> None:
    archive = qserial.Archive(tmp_path, format=get_format("json", compression=0))
    archive.save(real_results()["sampler"])
    path = next(tmp_path.rglob("*.json"))
    assert qserial.read_header(path)["options"]["compression"] == 0
