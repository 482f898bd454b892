"""The example plugin passes the same conformance suite as the in-repo plugins."""

import gzip

import qserial
from qserial.testing.conformance import FormatConformance


class TestJSONGzConformance(FormatConformance):
    format = "jsongz"
    lossless = False
    partial = False


def test_is_discovered_and_chosen_by_double_suffix(tmp_path):
    assert "jsongz" in qserial.list_formats()
    path = tmp_path / "counts.json.gz"
    qserial.dump({"00": 3, "11": 5}, path)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert gzip.decompress(path.read_bytes()).startswith(b"{")
    assert qserial.load(path) == {"00": 3, "11": 5}


def test_level_is_a_declared_option(tmp_path):
    fmt = qserial.get_format("jsongz", level=9)
    assert fmt.get_config()["level"] == 9
    data = {"bits": list(range(200))}
    fast = qserial.dumps(data, format="jsongz", level=0)
    small = qserial.dumps(data, format=fmt)
    assert len(small) < len(fast)
    assert qserial.loads(small) == qserial.loads(fast) == data
    try:
        qserial.get_format("jsongz", level=10)
    except qserial.FormatOptionError as exc:
        assert "level: int 0..9, default 6" in str(exc)
    else:
        raise AssertionError("level=10 was accepted")
