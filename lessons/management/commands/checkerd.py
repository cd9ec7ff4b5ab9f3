"""The checker worker: one check loop per assigned sandbox, until SIGTERM
(lessons/worker.py). Several can share the work: `--shard 0/2` and
`--shard 1/2` each take half of the sandboxes."""
import asyncio
import contextlib
import logging
import signal

from django.core.management.base import BaseCommand, CommandError

from lessons.worker import Worker, embedded

log = logging.getLogger(__name__)


def shard(value: str) -> tuple[int, int]:
    index, _, count = value.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise ValueError(value)
    return int(index), int(count)


class Command(BaseCommand):
    help = "Check every assigned sandbox's exercises, whether or not a page is open."

    def add_arguments(self, parser):
        parser.add_argument("--shard", type=shard, default=(0, 1), help="this worker's part, e.g. 0/2")
        parser.add_argument("--threads", type=int, default=8, help="check rounds that run at once")

    def handle(self, *args, shard: tuple[int, int], threads: int, **options) -> None:
        if embedded():
            raise CommandError("checkerd needs a channel layer across processes: set REDIS_URL "
                               "(without it, the web process checks by itself)")
        asyncio.run(self.main(Worker(*shard, threads=threads)))

    async def main(self, worker: Worker) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        serving = loop.create_task(worker.serve())
        await stop.wait()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
