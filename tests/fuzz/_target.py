"""The shared body of the atheris fuzz targets in this folder (one per format).

Each ``atheris_<format>.py`` runs :func:`main` for its format: libFuzzer, guided by
the coverage of qserial's and the format plugin's code, feeds bytes to the loader and
stops at the first exception that is not a ``qserial.QSerialError``, saving the input
as ``crash-<sha1>``. Each input is loaded twice: with the digest checked, and with
``verify=False``, as a crafted file carrying a valid digest would be decoded. A run
starts from small valid files of the format (its seed corpus), so mutations reach past
the magic bytes. See docs/reliability.md.
"""

from __future__ import annotations

import os
import sys
import tempfile

#: The module that implements each format, instrumented for coverage.
PLUGIN_MODULES = {
    "json": ["qserial.formats.json", "qserial.formats._npy"],
    "jsongz": ["qserial_jsongz", "qserial.formats.json", "qserial.formats._npy"],
    "msgpack": ["qserial_msgpack", "qserial_msgpack._codec"],
    "hdf5": ["qserial_hdf5", "qserial_hdf5._index", "qserial_hdf5._layout", "qserial_hdf5._pio",
             "qserial_hdf5._reader", "qserial_hdf5._skeleton", "qserial_hdf5._writer"],
    "parquet": ["qserial_parquet", "qserial_parquet._format", "qserial_parquet._layout",
                "qserial_parquet._reader", "qserial_parquet._seal", "qserial_parquet._treejson"],
}


def seed_corpus(fmt: str) -> str:
    """A new folder holding small valid files of ``fmt``."""
    import qserial
    from qserial import scenarios

    folder = tempfile.mkdtemp(prefix=f"qserial-fuzz-{fmt}-")
    values = {"service_sampler": scenarios.small_sampler(),
              "estimator": scenarios.estimator(pubs=2, values=3),
              "sweep": scenarios.sweep(pubs=2, params=2, shots=16, bits=5),
              "plain": {"shots": [1, 2.5, None], "name": "x"}}
    for name, value in values.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(qserial.dumps(value, format=fmt))
    return folder


def main(fmt: str, argv: list[str] | None = None) -> None:
    """Fuzz the ``fmt`` loader; ``argv`` takes libFuzzer's flags and corpus folders."""
    import importlib

    import atheris

    # Qiskit and numpy are imported first, uninstrumented: only qserial's own code and
    # the plugin's guide the fuzzer, and the results' classes are ready to decode.
    import numpy  # noqa: F401
    import qiskit.primitives.containers  # noqa: F401

    with atheris.instrument_imports(include=["qserial", "qserial_" + fmt]):
        import qserial

        for name in PLUGIN_MODULES.get(fmt, []):
            importlib.import_module(name)
    qserial.REGISTRY.load_all()  # type providers, before the first input
    error = qserial.QSerialError

    def one_input(data: bytes) -> None:
        # Checked, then as a crafted file with a valid digest would be: the decoder
        # behind the digest must be as safe as the digest check.
        for verify in (True, False):
            try:
                qserial.loads(data, format=fmt, verify=verify)
            except error:
                pass

    argv = list(sys.argv if argv is None else argv)
    if not any(not a.startswith("-") for a in argv[1:]):  # no corpus folder given
        argv.append(seed_corpus(fmt))
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


