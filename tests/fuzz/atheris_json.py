"""atheris fuzz target for the json loader.

Run it for ten minutes (libFuzzer flags and corpus folders may follow)::

    python tests/fuzz/atheris_json.py -max_total_time=600

It stops at the first input that makes the loader raise anything but a
``qserial.QSerialError`` and saves it as ``crash-<sha1>``. Needs
``pip install qserial[fuzz]``; see docs/reliability.md.
"""

if __name__ == "__main__":
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _target import main

    main("json")
