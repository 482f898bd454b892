"""The JSON format passes the conformance suite that every format plugin runs."""

from qserial.testing.conformance import FormatConformance


class TestJSONConformance(FormatConformance):
    format = "json"
    lossless = False  # RuntimeEncoder's layout: tuples become lists, dict keys strings
    partial = False
