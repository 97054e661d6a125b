"""Model backends. Import the concrete ones from their modules or from :mod:`lcm_widgets`;
nothing heavy is imported here."""

from .base import Backend, BackendInfo, BatchingBackend

__all__ = ["Backend", "BackendInfo", "BatchingBackend"]
