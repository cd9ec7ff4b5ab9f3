"""Check the sandbox engine before Labdeck serves: it answers, it has the
sandbox image, and the sandboxes' network exists (made here, once, before
any other process starts; doing it again is harmless)."""
from django.core.management.base import BaseCommand, CommandError

from sandboxes.backends import BackendUnavailable, SandboxError, get_backend


class Command(BaseCommand):
    help = "Check the sandbox engine and make the sandboxes' network."

    def handle(self, *args, **options) -> None:
        try:
            self.stdout.write(get_backend().prepare())
        except (BackendUnavailable, SandboxError) as exc:
            raise CommandError(str(exc)) from exc
