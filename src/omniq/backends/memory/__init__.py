"""The in-process memory backend (``backend_type="memory"``)."""

from omniq.backends.memory.backend import MemoryBackend
from omniq.backends.memory.event_store import MemoryEventStorage
from omniq.backends.memory.result_store import MemoryResultStorage
from omniq.backends.memory.task_queue import MemoryTaskQueue

__all__ = ["MemoryBackend", "MemoryEventStorage", "MemoryResultStorage", "MemoryTaskQueue"]
