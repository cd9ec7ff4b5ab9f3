"""Labdeck settings: embedded defaults, every knob an environment variable.

The helpers fail loudly on a malformed value instead of guessing, in the
manner of healthchecks' settings.
"""
import os
import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    value = os.getenv(name, default)
    if value not in ("True", "False"):
        raise ValueError(f"{name} must be True or False, not {value!r}")
    return value == "True"


def envint(name: str, default: int) -> int:
    value = os.getenv(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None


def envsize(name: str, default: str) -> str:
    """A size as Docker takes it: a whole number with an optional k, m or g."""
    value = os.getenv(name, default)
    if not re.fullmatch(r"[0-9]+[kmgKMG]?", value):
        raise ValueError(f"{name} must be a size such as 512m or 10g, not {value!r}")
    return value


def envbytes(name: str, default: str) -> int:
    """A size in bytes, written as envsize takes it (k, m, g: powers of 1024)."""
    value = envsize(name, default).lower()
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(value[-1], 1)
    return int(value.rstrip("kmg")) * scale


def envorigins(name: str, default: list[str]) -> list[str]:
    """Origins exactly as a browser sends them: scheme://host[:port], no
    path, no wildcard (the websocket check compares all three parts)."""
    value = os.getenv(name)
    origins = [o.strip() for o in value.split(",") if o.strip()] if value is not None else default
    for origin in origins:
        if not re.fullmatch(r"https?://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*)(:[0-9]{1,5})?", origin):
            raise ValueError(f"{name}: {origin!r} is not an origin such as https://labdeck.example.org")
    return origins


def site_origins(hosts: list[str], port: int) -> list[str]:
    """http://HOST:PORT for each exact name of ALLOWED_HOSTS (not wildcards)."""
    suffix = "" if port == 80 else f":{port}"
    exact = [f"http://{f'[{h}]' if ':' in h else h}{suffix}" for h in hosts if h and h != "*" and not h.startswith(".")]
    return list(dict.fromkeys(exact))


def envnodesets(name: str, default: str) -> dict[int, int]:
    """Warm node sets to keep, "NODES:COUNT" pairs ("3:1": one set of three
    machines), as {nodes: count}."""
    value = os.getenv(name, default)
    sets = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        nodes, _, count = item.partition(":")
        if not (nodes.isdigit() and count.isdigit() and 2 <= int(nodes) <= MAX_NODES):
            raise ValueError(f"{name}: {item!r} is not NODES:COUNT with NODES from 2 to {MAX_NODES} (e.g. 3:1)")
        sets[int(nodes)] = int(count)
    return sets


# Machines one learner's sandbox may have (a node set's /28 holds 13).
MAX_NODES = 8


def envfloat(name: str, default: float) -> float:
    value = os.getenv(name, str(default))
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None


SECRET_KEY = os.getenv("SECRET_KEY", "labdeck-development-key-change-me")
DEBUG = envbool("DEBUG", "False")
ALLOWED_HOSTS = os.getenv("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.getenv("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# The port browsers reach the site on: nginx's in the production layout
# (LABDECK_LISTEN, "80" or "127.0.0.1:8080"), else the web process's under `make run`.
_listen = os.getenv("LABDECK_LISTEN", "")
LABDECK_SITE_PORT = int(_listen.rpartition(":")[2]) if _listen else envint("LABDECK_PORT", 8000)
# Websockets are accepted from these origins only: scheme, host and port, so
# that a page on another port of the same host (a preview, say) is not the site.
LABDECK_ORIGINS = envorigins("LABDECK_ORIGINS", site_origins(ALLOWED_HOSTS, LABDECK_SITE_PORT))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "labdeck",
    "sandboxes",
    "lessons",
    "previews",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "labdeck.middleware.removed_learners",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Several web processes behind one proxy: each names itself in a response
# header (the production layout sets it), so that one can tell which answered.
LABDECK_PROCESS_NAME = os.getenv("LABDECK_PROCESS_NAME", "")
if LABDECK_PROCESS_NAME:
    MIDDLEWARE.insert(0, "labdeck.middleware.process_name")

ROOT_URLCONF = "labdeck.urls"
ASGI_APPLICATION = "labdeck.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "previews.context.previews",
            ]
        },
    }
]

if os.getenv("DATABASE_URL", "").startswith("postgres"):
    from urllib.parse import parse_qsl, unquote, urlparse

    _db = urlparse(os.environ["DATABASE_URL"])
    _pool = envint("LABDECK_DB_POOL", 8)
    _connect_timeout = envint("LABDECK_DB_CONNECT_TIMEOUT", 5)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(_db.path.lstrip("/")),
            "USER": unquote(_db.username or ""),
            "PASSWORD": unquote(_db.password or ""),
            "HOST": _db.hostname or "",
            "PORT": str(_db.port or ""),
            # Django's docs advise against persistent connections under ASGI
            # (CONN_MAX_AGE stays 0): each process keeps a pool instead, and
            # checks a connection before handing it out, so a restarted
            # PostgreSQL costs no failed request.
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                # A query string (?sslmode=require) passes through to libpq.
                **dict(parse_qsl(_db.query)),
                # A PostgreSQL that does not answer fails a request in
                # seconds instead of hanging it.
                "connect_timeout": _connect_timeout,
                # pg_stat_activity tells which program holds which connection.
                "application_name": os.getenv("LABDECK_PROCESS_NAME") or "labdeck",
                **({"pool": {"min_size": 1, "max_size": _pool, "timeout": _connect_timeout}} if _pool else {}),
            },
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.getenv("LABDECK_SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # The pool keeper and the web process share the file: wait for
            # the lock instead of failing, and use WAL so readers never block.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

if os.getenv("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # A dashboard's channel takes every event of a room of 200:
            # room for bursts, since a full channel drops messages.
            # A room of 200 joining at once opens more connections than
            # redis-py's default pool of 100 allows.
            "CONFIG": {"hosts": [{"address": os.environ["REDIS_URL"], "max_connections": 1000}], "capacity": 5000},
        }
    }
    # Shared by every process: the join codes' rate limit counts across them.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": os.environ["REDIS_URL"]}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 5000}}}

SESSION_COOKIE_AGE = 60 * 60 * 24 * 30
LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Where `manage.py collectstatic` puts them for a web server to serve.
STATIC_ROOT = Path(os.getenv("LABDECK_STATIC_ROOT", str(BASE_DIR / "var" / "static")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
}

# Sandboxes
LABDECK_BACKEND = os.getenv("LABDECK_BACKEND", "docker")
# The sandbox engine of deploy/engine/start.sh, not the host's own Docker.
LABDECK_DOCKER_HOST = os.getenv("LABDECK_DOCKER_HOST", "unix:///run/labdeck/engine.sock")
# Several sandbox engines instead: "a=tcp://10.0.0.11:2376,capacity=60;b=..."
# (sandboxes/backends/hosts.py), reached over mutual TLS with the client
# certificates of LABDECK_TLS_DIR (deploy/engine/certs.sh).
LABDECK_SANDBOX_HOSTS = os.getenv("LABDECK_SANDBOX_HOSTS", "")
LABDECK_TLS_DIR = os.getenv("LABDECK_TLS_DIR", "/etc/labdeck/tls")
# Seconds a host may fail to answer before its sandboxes count as lost.
LABDECK_HOST_LOST_AFTER = envint("LABDECK_HOST_LOST_AFTER", 20)
LABDECK_SANDBOX_IMAGE = os.getenv("LABDECK_SANDBOX_IMAGE", "labdeck/sandbox:latest")
LABDECK_SANDBOX_RUNTIME = os.getenv("LABDECK_SANDBOX_RUNTIME", "")
LABDECK_SANDBOX_MEMORY = envsize("LABDECK_SANDBOX_MEMORY", "1g")
# The sandbox's whole disk: its own files, its engine's images and containers.
LABDECK_SANDBOX_DISK = envsize("LABDECK_SANDBOX_DISK", "10g")
LABDECK_SANDBOX_CPUS = envfloat("LABDECK_SANDBOX_CPUS", 1.0)
LABDECK_SANDBOX_PIDS = envint("LABDECK_SANDBOX_PIDS", 1024)
LABDECK_SANDBOX_NETWORK = os.getenv("LABDECK_SANDBOX_NETWORK", "labdeck-sandboxes")
# Fixed, so that two processes creating the network at once cannot both succeed.
LABDECK_SANDBOX_SUBNET = os.getenv("LABDECK_SANDBOX_SUBNET", "10.213.0.0/16")
# Where each node set (a course of several machines per learner) gets a /28
# network of its own; apart from LABDECK_SANDBOX_SUBNET.
LABDECK_NODE_SUBNETS = os.getenv("LABDECK_NODE_SUBNETS", "10.220.0.0/16")
LABDECK_IMAGE_CACHE = os.getenv("LABDECK_IMAGE_CACHE", "/var/lib/labdeck/images")
LABDECK_REGISTRY_MIRROR = os.getenv("LABDECK_REGISTRY_MIRROR", "")
# Read by the engine's firewall too (deploy/engine/firewall.sh): sandboxes reach the internet.
LABDECK_SANDBOX_EGRESS = envbool("LABDECK_SANDBOX_EGRESS", "False")
LABDECK_NAME_PREFIX = os.getenv("LABDECK_NAME_PREFIX", "labdeck")
LABDECK_POOL_SIZE = envint("LABDECK_POOL_SIZE", 2)
# Unclaimed node sets the site keeps warm, e.g. "3:1" for a three-node course.
LABDECK_POOL_NODE_SETS = envnodesets("LABDECK_POOL_NODE_SETS", "")
LABDECK_MAX_SANDBOXES = envint("LABDECK_MAX_SANDBOXES", 20)
LABDECK_SANDBOX_LIFETIME = envint("LABDECK_SANDBOX_LIFETIME", 4 * 3600)
LABDECK_SANDBOX_IDLE = envint("LABDECK_SANDBOX_IDLE", 30 * 60)
LABDECK_IDLE_WARNING = envint("LABDECK_IDLE_WARNING", 5 * 60)
LABDECK_WARMUP_LEAD = envint("LABDECK_WARMUP_LEAD", 15 * 60)
LABDECK_STUCK_AFTER = envint("LABDECK_STUCK_AFTER", 10 * 60)
LABDECK_EXTEND_BY = envint("LABDECK_EXTEND_BY", 30 * 60)
LABDECK_READY_TIMEOUT = envint("LABDECK_READY_TIMEOUT", 60)
LABDECK_SERVE_STATIC = envbool("LABDECK_SERVE_STATIC", "True")
# The learner's own files (sandboxes/files.py): the most an upload (a dropped
# file, an editor's save) and a download take. The server reads no more.
LABDECK_UPLOAD_LIMIT = envbytes("LABDECK_UPLOAD_LIMIT", "5m")
LABDECK_DOWNLOAD_LIMIT = envbytes("LABDECK_DOWNLOAD_LIMIT", "10m")
LABDECK_COURSE_DIR = os.getenv("LABDECK_COURSE_DIR", str(BASE_DIR / "lessons" / "content"))

# Previews: the ports a learner's containers publish, opened in the browser
# through Labdeck's proxy (previews/), each on an origin of its own,
# http(s)://PORT-SANDBOX.LABDECK_PREVIEW_HOST/. "" turns them off. By default
# they are on only under `make run` with the site on loopback names: on
# localhost and the site's port, which browsers resolve themselves
# (*.localhost is loopback). A real host needs a wildcard DNS name; the
# production layout serves previews only when this is set (its nginx then
# passes the preview host names on).
_loopback = {"127.0.0.1", "localhost", "::1", "[::1]"}
LABDECK_PREVIEW_HOST = os.getenv(
    "LABDECK_PREVIEW_HOST",
    f"localhost:{LABDECK_SITE_PORT}" if not _listen and set(ALLOWED_HOSTS) <= _loopback else "").lower()
# Proxied connections (HTTP exchanges and websockets) one sandbox may hold at
# once in one web process, the bytes per second they share, and what each may
# carry (bytes both ways, seconds).
LABDECK_PREVIEW_CONNECTIONS = envint("LABDECK_PREVIEW_CONNECTIONS", 8)
LABDECK_PREVIEW_RATE = envint("LABDECK_PREVIEW_RATE", 4 << 20)
LABDECK_PREVIEW_BYTES = envint("LABDECK_PREVIEW_BYTES", 16 << 20)
LABDECK_PREVIEW_SECONDS = envint("LABDECK_PREVIEW_SECONDS", 3600)
