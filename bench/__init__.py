"""Labdeck benchmarks: `make bench` (`python -m bench`).

Importing the package pins the name prefix and the sandbox network to the
bench's own, for this process and every server it starts, so a benchmark
never touches (or cleans up) the tests' or a running Labdeck's sandboxes.
LABDECK_BENCH_PREFIX, LABDECK_BENCH_NETWORK and LABDECK_BENCH_SUBNET give
a second bench on the same engine names of its own: each run removes every
sandbox and network of its prefix, at its start and at its end.
"""
import os

PREFIX = os.environ.get("LABDECK_BENCH_PREFIX", "labdeck-bench")
NETWORK = os.environ.get("LABDECK_BENCH_NETWORK", f"{PREFIX}-sandboxes")
SUBNET = os.environ.get("LABDECK_BENCH_SUBNET", "10.215.0.0/16")

os.environ["LABDECK_NAME_PREFIX"] = PREFIX
os.environ["LABDECK_SANDBOX_NETWORK"] = NETWORK
os.environ["LABDECK_SANDBOX_SUBNET"] = SUBNET
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
