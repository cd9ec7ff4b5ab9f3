"""A database or Redis URL's parts as shell assignments, for the production
scripts: `eval "$(python3 urlparts.py DB "$DATABASE_URL")"` sets DB_SCHEME,
DB_HOST, DB_PORT, DB_USER, DB_PASSWORD and DB_NAME (the path without its
slash), each quoted for the shell, as labdeck/settings.py reads the URL."""
import shlex
import sys
from urllib.parse import unquote, urlparse


def parts(url: str) -> dict[str, str]:
    u = urlparse(url)
    return {
        "SCHEME": u.scheme,
        "HOST": u.hostname or "",
        "PORT": str(u.port or ""),
        "USER": unquote(u.username or ""),
        "PASSWORD": unquote(u.password or ""),
        "NAME": unquote(u.path.lstrip("/")),
    }


if __name__ == "__main__":
    prefix, url = sys.argv[1:]
    for key, value in parts(url).items():
        print(f"{prefix}_{key}={shlex.quote(value)}")
