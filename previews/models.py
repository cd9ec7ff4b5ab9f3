"""Share links: a preview opened to anyone who has the link, until revoked."""
from __future__ import annotations

import secrets

from django.db import IntegrityError, models, transaction
from django.utils import timezone


def new_token() -> str:
    return secrets.token_urlsafe(24)


class PreviewShare(models.Model):
    """One port of one sandbox, shared. Revoking sets revoked_at; every
    request through the link (or the cookie it gave) checks this row, so the
    link stops at once. Sharing again makes a new token."""

    sandbox = models.ForeignKey("sandboxes.Sandbox", on_delete=models.CASCADE, related_name="preview_shares")
    port = models.PositiveIntegerField()
    token = models.CharField(max_length=64, unique=True, default=new_token)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One live link per preview: Share twice gives the same link.
            models.UniqueConstraint(fields=["sandbox", "port"], condition=models.Q(revoked_at__isnull=True),
                                    name="previewshare_one_live"),
        ]

    def __str__(self) -> str:
        return f"{self.sandbox_id}:{self.port} ({'revoked' if self.revoked_at else 'shared'})"

    @classmethod
    def live(cls, sandbox) -> dict[int, str]:
        """The sandbox's shared ports and their tokens."""
        return dict(cls.objects.filter(sandbox=sandbox, revoked_at__isnull=True).values_list("port", "token"))

    @classmethod
    def share(cls, sandbox, port: int) -> str:
        """The token of the port's live link, made if there is none."""
        for _ in range(2):  # a concurrent Share may make it first
            found = cls.objects.filter(sandbox=sandbox, port=port, revoked_at__isnull=True).first()
            if found:
                return found.token
            try:
                with transaction.atomic():
                    return cls.objects.create(sandbox=sandbox, port=port).token
            except IntegrityError:
                continue
        raise IntegrityError("could not share the preview")

    @classmethod
    def revoke(cls, sandbox, port: int) -> int:
        return cls.objects.filter(sandbox=sandbox, port=port, revoked_at__isnull=True).update(revoked_at=timezone.now())
