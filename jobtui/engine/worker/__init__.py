"""What moves jobs: the engine loop, claims, the pipeline walker, launching and supervising ops."""

# Envelopes follow every status change of their jobs, whoever makes it: the chain registers its
# store hook when imported, and everything that changes a job (the engine, the service) imports
# this package first.
from jobtui.engine.worker import chain as _chain  # noqa: F401
