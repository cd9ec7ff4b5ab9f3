"""The checker worker: one check loop per assigned sandbox, until SIGTERM.

(Being written: for now it only waits for SIGTERM.)
"""
import asyncio
import signal

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Check every assigned sandbox's exercises, whether or not a page is open."

    def handle(self, *args, **options) -> None:
        asyncio.run(self.main())

    async def main(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
