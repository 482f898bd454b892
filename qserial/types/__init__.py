"""Type registrations shipped with qserial.

Each module here is a provider: its ``register(registry)`` function registers the
tags that :data:`qserial.registry.BUILTIN_TYPES` declares for it, and the registry
calls it when one of those tags or classes is first needed (:mod:`~qserial.types.builtin`,
Python and numpy values, when a registry is created).
"""
