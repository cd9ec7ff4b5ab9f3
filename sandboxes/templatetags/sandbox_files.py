"""{% files_bar %}: the learner's files above a terminal (templates/_files.html),
with the upload cap, which the page checks before it sends anything."""
from django import template
from django.conf import settings

from sandboxes.files import HOME

register = template.Library()


@register.inclusion_tag("_files.html")
def files_bar() -> dict:
    return {"upload_limit": settings.LABDECK_UPLOAD_LIMIT, "home": HOME}
