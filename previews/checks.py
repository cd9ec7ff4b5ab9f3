"""System checks: the site's cookies must never reach a preview.

A preview's pages are the learner's, hostile maybe. The site's cookies are
host-only (Django's default, no *_COOKIE_DOMAIN), so a browser sends them to
the site's own host name and to no preview; a cookie domain would send them
to every preview under it.
"""
from __future__ import annotations

from django.conf import settings
from django.core import checks

from previews import hosts


@checks.register(checks.Tags.security)
def site_cookies_host_only(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if not hosts.enabled():
        return []
    return [
        checks.Error(f"{name} is set: with previews on, the site's cookies must be host-only",
                     hint="Unset it, or turn previews off (LABDECK_PREVIEW_HOST=).", id="previews.E001")
        for name in ("SESSION_COOKIE_DOMAIN", "CSRF_COOKIE_DOMAIN", "LANGUAGE_COOKIE_DOMAIN")
        if getattr(settings, name, None)
    ]
