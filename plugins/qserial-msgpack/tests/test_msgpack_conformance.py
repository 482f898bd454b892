"""The msgpack format passes the conformance suite every format plugin runs."""

from qserial.testing.conformance import FormatConformance


class TestMsgpackConformance(FormatConformance):
    format = "msgpack"
    lossless = True
    partial = False
