"""Type registrations shipped with qserial.

:mod:`qserial.types.builtin` (Python and numpy values) is registered on import;
:mod:`qserial.types.qiskit` and :mod:`qserial.types.runtime` are imported by the
registry only when their objects or tags are met.
"""

from . import builtin  # noqa: F401
