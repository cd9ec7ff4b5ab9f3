"""Pick the configured sandbox backend; one instance per process."""
from functools import lru_cache

from django.conf import settings

from sandboxes.backends.base import Backend, BackendUnavailable, SandboxError

__all__ = ["Backend", "BackendUnavailable", "SandboxError", "get_backend"]


@lru_cache(maxsize=1)
def get_backend() -> Backend:
    if settings.LABDECK_BACKEND == "docker" and settings.LABDECK_SANDBOX_HOSTS:
        from sandboxes.backends.hosts import HostsBackend

        return HostsBackend.from_settings()
    if settings.LABDECK_BACKEND == "docker":
        from sandboxes.backends.docker import DockerBackend

        return DockerBackend.from_settings()
    raise ValueError(f"LABDECK_BACKEND: unknown backend {settings.LABDECK_BACKEND!r}")
