"""ASGI entry point: HTTP through Django, websockets through Channels, and
in front of both the preview origins (previews.proxy), which never reach
the site's code."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labdeck.settings")
django_http = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from labdeck.routing import websocket_urlpatterns as classroom_routes  # noqa: E402
from lessons.routing import websocket_urlpatterns as lesson_routes  # noqa: E402
from previews.proxy import by_host  # noqa: E402
from previews.routing import websocket_urlpatterns as preview_routes  # noqa: E402
from sandboxes.bodylimit import limit_uploads  # noqa: E402
from sandboxes.routing import websocket_urlpatterns as sandbox_routes  # noqa: E402

site = ProtocolTypeRouter(
    {
        # The embedded set-up serves its own static files; behind a real
        # web server set LABDECK_SERVE_STATIC=False.
        # An upload's body is refused past its cap before Django reads it.
        "http": limit_uploads(ASGIStaticFilesHandler(django_http) if settings.LABDECK_SERVE_STATIC else django_http,
                              settings.LABDECK_UPLOAD_LIMIT),
        # Scheme, host and port of the page must be one of the site's own
        # origins (LABDECK_ORIGINS, each scheme://host[:port]): a page served
        # on another port of the same host, a preview say, is not the site.
        "websocket": OriginValidator(
            AuthMiddlewareStack(URLRouter(sandbox_routes + lesson_routes + preview_routes + classroom_routes)),
            settings.LABDECK_ORIGINS),
    }
)
application = by_host(site)
