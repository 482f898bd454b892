"""Parquet format for qserial: one row per shot, one column per classical register.

Install the distribution and qserial finds the format by its entry point::

    qserial.dump(result, "out.parquet")
    qserial.load("out.parquet", pubs=[3, 7])      # reads only those row groups

The layout is specified in docs/formats/parquet.md.
"""

from __future__ import annotations

from ._format import ParquetFormat

__all__ = ["ParquetFormat"]
