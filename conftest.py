"""Hypothesis profiles for the whole repository (tests/ and plugins/*/tests).

``ci`` runs 200 examples per round-trip test, derandomized so every run tries the
same examples; ``dev`` runs a quick sample. ``ci`` is chosen when the ``CI``
environment variable is set; ``QSERIAL_HYPOTHESIS_PROFILE`` overrides the choice.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # first calls import Qiskit and format libraries
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("dev", max_examples=25, **_COMMON)
settings.register_profile(
    "ci", max_examples=200, derandomize=True, database=None, print_blob=True, **_COMMON
)
settings.load_profile(
    os.environ.get("QSERIAL_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
