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
