"""Run daphne on uvloop: `python -m labdeck.serve [daphne arguments]`.

Twisted's asyncio reactor runs on whatever loop asyncio makes; uvloop's is
leaner per wakeup, which is most of what a keystroke's echo costs here.
The policy must be in place before daphne imports its server module.
"""
import uvloop

uvloop.install()

from daphne.cli import CommandLineInterface  # noqa: E402

if __name__ == "__main__":
    CommandLineInterface.entrypoint()
