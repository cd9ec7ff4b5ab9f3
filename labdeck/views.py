"""The learner's pages."""
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@ensure_csrf_cookie
def home(request: HttpRequest) -> HttpResponse:
    """Labdeck's front page: a Start button, then the terminal."""
    return render(request, "home.html")
