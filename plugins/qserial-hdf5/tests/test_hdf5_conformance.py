"""The HDF5 format passes the conformance suite every format plugin runs."""

from qserial.testing.conformance import FormatConformance


class TestHDF5Conformance(FormatConformance):
    format = "hdf5"
    lossless = True
    partial = True
