"""Labdeck benchmarks: `make bench` (`python -m bench`).

Importing the package pins the name prefix and the sandbox network to the
bench's own, for this process and every server it starts, so a benchmark
never touches (or cleans up) the tests' or a running Labdeck's sandboxes.
"""
import os

PREFIX = "labdeck-bench"
NETWORK = "labdeck-bench-sandboxes"

os.environ["LABDECK_NAME_PREFIX"] = PREFIX
os.environ["LABDECK_SANDBOX_NETWORK"] = NETWORK
os.environ["LABDECK_SANDBOX_SUBNET"] = "10.215.0.0/16"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
