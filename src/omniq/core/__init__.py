"""The policy below the workers and the facade: what outcomes mean, whatever the backend.

Dependencies, wake-ups (:mod:`omniq.core.notify`), retries, schedules, reading outcomes,
validation, the store an instance works on (:mod:`omniq.core.store`) and its clock. It
imports the storage interfaces, never a backend, a worker or the facade.
"""

__all__: list[str] = []
