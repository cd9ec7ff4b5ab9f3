"""Test settings: everything a test creates carries the labdeck-test prefix,
so the reaper and the clean-up never touch a running Labdeck's sandboxes."""
import os
import secrets

# A prefix per test session, so that two sessions at once (or a CI run beside
# a developer's) never clean up each other's sandboxes.
os.environ.setdefault("LABDECK_NAME_PREFIX", f"labdeck-test-{secrets.token_hex(3)}")
os.environ.setdefault("LABDECK_SANDBOX_NETWORK", "labdeck-test-sandboxes")
os.environ.setdefault("LABDECK_SANDBOX_SUBNET", "10.214.0.0/16")
os.environ.setdefault("LABDECK_SANDBOX_DISK", "4g")
os.environ.setdefault("LABDECK_POOL_SIZE", "0")
os.environ.setdefault("LABDECK_SANDBOX_MEMORY", "512m")

from labdeck.settings import *  # noqa: E402,F403

# A file, not SQLite's shared in-memory database, so that threads in the
# concurrency tests lock like separate processes do (with a busy timeout).
DATABASES["default"]["TEST"] = {"NAME": f"/tmp/labdeck-test-{os.getpid()}.sqlite3"}  # noqa: F405
