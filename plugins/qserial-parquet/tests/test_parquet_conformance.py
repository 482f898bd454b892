"""The Parquet format passes the conformance suite every format plugin runs."""

from qserial.testing.conformance import FormatConformance


class TestParquetConformance(FormatConformance):
    format = "parquet"
    lossless = True
    partial = True
