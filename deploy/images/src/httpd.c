/* Labdeck stand-in web server for the nginx and tomcat images of the course.
 *
 * It is NOT nginx and NOT Tomcat: a small static HTTP/1.1 file server that
 * does what the lessons need of them. It serves files for GET and HEAD
 * (Connection: close, one request per connection, a child process per
 * connection), answers 301/400/403/404/405 like nginx, writes every request
 * to stdout in nginx's "combined" format at once (and to --log FILE too), and
 * exits 0 at once on SIGTERM, SIGINT or SIGQUIT.
 *
 *   httpd [-p PORT] [--root DIR | --webapps DIR] [--log FILE] [--pid FILE]
 *         [--server-header STR] [--name STR] [nginx options, ignored]
 *
 * Defaults are nginx's: port 80, root /usr/share/nginx/html, pid file
 * /var/run/nginx.pid. --webapps maps /NAME/... to DIR/NAME/... when DIR/NAME
 * is a directory, and everything else to DIR/ROOT/..., as Tomcat does.
 * As nginx: `-g ...` and `-c ...` are ignored, -v/-V print the version,
 * -t says there is no configuration to test, `-s stop|quit` stops the
 * running server (through the pid file), `-s reload|reopen` is a no-op.
 *
 * Built static (gcc -O2 -static) so that it runs on a BusyBox root.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef NGINX_VERSION
#define NGINX_VERSION "1.27.3"
#endif

static int port = 80;
static const char *root = "/usr/share/nginx/html";
static const char *webapps = NULL;
static const char *logfile = NULL;
static const char *pidfile = "/var/run/nginx.pid";
static const char *server_header = "nginx/" NGINX_VERSION;
static const char *name = "nginx/" NGINX_VERSION;
static int logfd = -1;

static void on_stop(int sig) { (void)sig; _exit(0); }

/* Write all of buf, retrying short writes; gives up on errors. */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static const char *reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 301: return "Moved Permanently";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Not Allowed";
  case 414: return "Request-URI Too Large";
  case 500: return "Internal Server Error";
  default: return "Error";
  }
}

static const char *content_type(const char *path) {
  static const struct { const char *ext, *type; } types[] = {
    {".html", "text/html"}, {".htm", "text/html"}, {".css", "text/css"},
    {".js", "application/javascript"}, {".json", "application/json"},
    {".txt", "text/plain"}, {".xml", "text/xml"}, {".svg", "image/svg+xml"},
    {".png", "image/png"}, {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"},
    {".gif", "image/gif"}, {".ico", "image/x-icon"}, {".webp", "image/webp"},
    {".pdf", "application/pdf"}, {".wasm", "application/wasm"},
    {".woff", "font/woff"}, {".woff2", "font/woff2"}, {".mp4", "video/mp4"},
  };
  const char *dot = strrchr(path, '.');
  const char *slash = strrchr(path, '/');
  if (dot && (!slash || dot > slash)) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
      if (strcasecmp(dot, types[i].ext) == 0) return types[i].type;
  }
  return "application/octet-stream";
}

static void http_date(time_t t, char *out, size_t size) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* Append s to the log line, escaped as nginx does ("\xHH" for quotes,
 * backslashes and anything not printable). */
static size_t log_escape(char *out, size_t pos, size_t size, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s && pos + 5 < size; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
      out[pos++] = '\\';
      out[pos++] = 'x';
      out[pos++] = hex[c >> 4];
      out[pos++] = hex[c & 15];
    } else {
      out[pos++] = (char)c;
    }
  }
  return pos;
}

/* One line in the combined format, written with one write() per target so
 * that lines from concurrent children never interleave. */
static void access_log(const char *addr, const char *request, int status, long long bytes,
                       const char *referer, const char *agent) {
  char line[8192];
  char when[64];
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  long off = tm.tm_gmtoff;
  char sign = off < 0 ? '-' : '+';
  if (off < 0) off = -off;
  strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S", &tm);
  size_t size = sizeof line - 2;
  size_t pos = (size_t)snprintf(line, size, "%s - - [%s %c%02ld%02ld] \"", addr, when, sign,
                                off / 3600, (off % 3600) / 60);
  pos = log_escape(line, pos, size - 64, request);
  pos += (size_t)snprintf(line + pos, size - pos, "\" %d %lld \"", status, bytes);
  pos = log_escape(line, pos, size - 32, referer && *referer ? referer : "-");
  pos += (size_t)snprintf(line + pos, size - pos, "\" \"");
  pos = log_escape(line, pos, size - 4, agent && *agent ? agent : "-");
  line[pos++] = '"';
  line[pos++] = '\n';
  write_all(1, line, pos);
  if (logfd >= 0) write_all(logfd, line, pos);
}

/* Send a response head, then the body from fd (or the given text). Returns
 * the body bytes sent. */
static long long respond(int client, int head_only, int status, const char *type, long long length,
                         time_t mtime, const char *location, int fd, const char *text) {
  char head[2048], date[64], modified[64];
  http_date(time(NULL), date, sizeof date);
  size_t n = (size_t)snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\n", status, reason(status));
  if (*server_header) n += (size_t)snprintf(head + n, sizeof head - n, "Server: %s\r\n", server_header);
  n += (size_t)snprintf(head + n, sizeof head - n, "Date: %s\r\nContent-Type: %s\r\nContent-Length: %lld\r\n",
                        date, type, length);
  if (mtime) {
    http_date(mtime, modified, sizeof modified);
    n += (size_t)snprintf(head + n, sizeof head - n, "Last-Modified: %s\r\nAccept-Ranges: bytes\r\n", modified);
  }
  if (location) n += (size_t)snprintf(head + n, sizeof head - n, "Location: %s\r\n", location);
  n += (size_t)snprintf(head + n, sizeof head - n, "Connection: close\r\n\r\n");
  if (n >= sizeof head) n = sizeof head - 1;
  if (write_all(client, head, n) < 0 || head_only) return 0;
  long long sent = 0;
  if (text) {
    if (write_all(client, text, strlen(text)) == 0) sent = (long long)strlen(text);
  } else if (fd >= 0) {
    char buf[65536];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
      if (write_all(client, buf, (size_t)r) < 0) break;
      sent += r;
    }
  }
  return sent;
}

static long long error_page(int client, int head_only, int status, const char *location) {
  char body[1024];
  snprintf(body, sizeof body,
           "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d %s</h1></center>\r\n"
           "<hr><center>%s</center>\r\n</body>\r\n</html>\r\n",
           status, reason(status), status, reason(status), name);
  return respond(client, head_only, status, "text/html", (long long)strlen(body), 0, location, -1, body);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Decode %XX in place; refuse NUL bytes. */
static int url_decode(char *s) {
  char *out = s;
  for (; *s; s++) {
    if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
      int c = hexval(s[1]) * 16 + hexval(s[2]);
      if (c == 0) return -1;
      *out++ = (char)c;
      s += 2;
    } else {
      *out++ = *s;
    }
  }
  *out = 0;
  return 0;
}

/* The value of a header in the request head (case-insensitive name), or "". */
static void header_value(const char *head, const char *field, char *out, size_t size) {
  size_t flen = strlen(field);
  out[0] = 0;
  for (const char *line = strchr(head, '\n'); line; line = strchr(line, '\n')) {
    line++;
    if (strncasecmp(line, field, flen) == 0 && line[flen] == ':') {
      const char *v = line + flen + 1;
      while (*v == ' ' || *v == '\t') v++;
      size_t n = 0;
      while (v[n] && v[n] != '\r' && v[n] != '\n') n++;
      if (n >= size) n = size - 1;
      memcpy(out, v, n);
      out[n] = 0;
      return;
    }
  }
}

static void format_addr(const struct sockaddr_storage *sa, char *out, size_t size) {
  if (sa->ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
      inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, (socklen_t)size);
    else
      inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)size);
  } else {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)size);
  }
}

static void handle(int client, const char *addr) {
  char req[16384];
  size_t len = 0;
  int complete = 0;
  struct timeval tv = {30, 0};
  setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  while (len < sizeof req - 1) {
    ssize_t n = read(client, req + len, sizeof req - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    req[len] = 0;
    if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) {
      complete = 1;
      break;
    }
  }
  req[len] = 0;
  if (len == 0) return; /* connected and left without a request: nothing to log */

  /* The request line, as it will be logged. */
  char line[8192];
  size_t ll = strcspn(req, "\r\n");
  if (ll >= sizeof line) ll = sizeof line - 1;
  memcpy(line, req, ll);
  line[ll] = 0;
  char referer[1024], agent[1024];
  header_value(req, "Referer", referer, sizeof referer);
  header_value(req, "User-Agent", agent, sizeof agent);

  char method[32] = "", target[8192] = "", version[32] = "";
  int fields = sscanf(line, "%31s %8191s %31s", method, target, version);
  int head_only = strcmp(method, "HEAD") == 0;
  int status;
  long long bytes;
  if (!complete && len >= sizeof req - 1) {
    status = 414;
    bytes = error_page(client, head_only, status, NULL);
    access_log(addr, line, status, bytes, referer, agent);
    return;
  }
  if (fields != 3 || strncmp(version, "HTTP/", 5) != 0) {
    status = 400;
    bytes = error_page(client, 0, status, NULL);
    access_log(addr, line, status, bytes, referer, agent);
    return;
  }
  if (strcmp(method, "GET") != 0 && !head_only) {
    status = 405;
    bytes = error_page(client, 0, status, NULL);
    access_log(addr, line, status, bytes, referer, agent);
    return;
  }

  /* The path: absolute-form targets lose their scheme and host; the query
   * and fragment are dropped; %XX decoded; no ".." segment allowed. */
  char *path = target;
  if (strncasecmp(path, "http://", 7) == 0) {
    path = strchr(path + 7, '/');
    if (!path) path = "/";
  }
  path[strcspn(path, "?#")] = 0;
  char raw_path[8192];
  snprintf(raw_path, sizeof raw_path, "%s", path);
  if (path[0] != '/' || url_decode(path) < 0 || strstr(path, "/../") ||
      (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0)) {
    status = 400;
    bytes = error_page(client, head_only, status, NULL);
    access_log(addr, line, status, bytes, referer, agent);
    return;
  }

  char file[16384];
  if (webapps) {
    /* Tomcat: /NAME/... is the web application NAME when it exists. */
    char app[256];
    size_t al = strcspn(path + 1, "/");
    int own_app = 0;
    if (al > 0 && al < sizeof app) {
      memcpy(app, path + 1, al);
      app[al] = 0;
      struct stat st;
      char dir[4096];
      snprintf(dir, sizeof dir, "%s/%s", webapps, app);
      own_app = strcmp(app, "ROOT") != 0 && stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (own_app)
      snprintf(file, sizeof file, "%s%s", webapps, path);
    else
      snprintf(file, sizeof file, "%s/ROOT%s", webapps, path);
  } else {
    snprintf(file, sizeof file, "%s%s", root, path);
  }

  struct stat st;
  if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (path[strlen(path) - 1] != '/') {
      char location[8300];
      snprintf(location, sizeof location, "%s/", raw_path);
      status = 301;
      bytes = error_page(client, head_only, status, location);
      access_log(addr, line, status, bytes, referer, agent);
      return;
    }
    strncat(file, "index.html", sizeof file - strlen(file) - 1);
    if (stat(file, &st) != 0) {
      status = errno == ENOENT ? 403 : 404; /* a directory without index: forbidden */
      bytes = error_page(client, head_only, status, NULL);
      access_log(addr, line, status, bytes, referer, agent);
      return;
    }
  }
  int fd = -1;
  if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
    status = 404;
  } else if ((fd = open(file, O_RDONLY)) < 0) {
    status = errno == EACCES ? 403 : 404;
  } else {
    status = 200;
  }
  if (status != 200) {
    bytes = error_page(client, head_only, status, NULL);
  } else {
    bytes = respond(client, head_only, 200, content_type(file), (long long)st.st_size, st.st_mtime, NULL, fd, NULL);
    close(fd);
  }
  access_log(addr, line, status, bytes, referer, agent);
}

static int listen_on(int p) {
  int one = 1, zero = 0;
  int s = socket(AF_INET6, SOCK_STREAM, 0);
  if (s >= 0) {
    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_any;
    a6.sin6_port = htons((unsigned short)p);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(s, (struct sockaddr *)&a6, sizeof a6) == 0 && listen(s, 128) == 0) return s;
    close(s);
  }
  /* No IPv6 in this container: IPv4 only. */
  s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return -1;
  struct sockaddr_in a4;
  memset(&a4, 0, sizeof a4);
  a4.sin_family = AF_INET;
  a4.sin_addr.s_addr = htonl(INADDR_ANY);
  a4.sin_port = htons((unsigned short)p);
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(s, (struct sockaddr *)&a4, sizeof a4) < 0 || listen(s, 128) < 0) {
    close(s);
    return -1;
  }
  return s;
}

/* nginx -s SIGNAL: stop and quit signal the server named in the pid file. */
static int send_signal(const char *what) {
  if (strcmp(what, "reload") == 0 || strcmp(what, "reopen") == 0) {
    fprintf(stderr, "nginx: [notice] signal process started (Labdeck stand-in: %s is a no-op, files are read on each request)\n", what);
    return 0;
  }
  int sig = strcmp(what, "stop") == 0 ? SIGTERM : strcmp(what, "quit") == 0 ? SIGQUIT : 0;
  if (!sig) {
    fprintf(stderr, "nginx: [emerg] invalid option: \"-s %s\"\n", what);
    return 1;
  }
  FILE *f = fopen(pidfile, "r");
  long pid = 0;
  if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 0) {
    fprintf(stderr, "nginx: [error] invalid PID number in \"%s\"\n", pidfile);
    if (f) fclose(f);
    return 1;
  }
  fclose(f);
  if (kill((pid_t)pid, sig) < 0) {
    fprintf(stderr, "nginx: [error] kill(%ld, %d) failed: %s\n", pid, sig, strerror(errno));
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *signal_arg = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *next = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "-p") == 0 && next) {
      /* Our port; nginx's -p (a prefix directory) is ignored. */
      char *end;
      long v = strtol(next, &end, 10);
      if (*end == 0 && v > 0 && v < 65536) port = (int)v;
      i++;
    } else if (strcmp(a, "--root") == 0 && next) {
      root = argv[++i];
    } else if (strcmp(a, "--webapps") == 0 && next) {
      webapps = argv[++i];
    } else if (strcmp(a, "--log") == 0 && next) {
      logfile = argv[++i];
    } else if (strcmp(a, "--pid") == 0 && next) {
      pidfile = argv[++i];
    } else if (strcmp(a, "--server-header") == 0 && next) {
      server_header = argv[++i];
    } else if (strcmp(a, "--name") == 0 && next) {
      name = argv[++i];
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
      fprintf(stderr, "nginx version: nginx/%s (Labdeck stand-in: a small C web server, not nginx)\n", NGINX_VERSION);
      return 0;
    } else if (strcmp(a, "-t") == 0 || strcmp(a, "-T") == 0) {
      fprintf(stderr, "nginx: Labdeck stand-in: there is no configuration file to test; it serves %s on port %d\n", root, port);
      return 0;
    } else if (strcmp(a, "-s") == 0 && next) {
      signal_arg = argv[++i];
    } else if ((strcmp(a, "-g") == 0 || strcmp(a, "-c") == 0 || strcmp(a, "-e") == 0) && next) {
      i++; /* nginx's configuration options: nothing to configure here */
    }
    /* anything else (e.g. "-q") is ignored */
  }
  if (signal_arg) return send_signal(signal_arg);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGQUIT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */

  int server = listen_on(port);
  if (server < 0) {
    fprintf(stderr, "httpd: cannot listen on port %d: %s\n", port, strerror(errno));
    return 1;
  }
  if (logfile && *logfile) {
    logfd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) fprintf(stderr, "httpd: cannot open %s: %s (logging to stdout only)\n", logfile, strerror(errno));
  }
  if (pidfile && *pidfile) {
    FILE *f = fopen(pidfile, "w");
    if (f) {
      fprintf(f, "%ld\n", (long)getpid());
      fclose(f);
    }
  }
  fprintf(stderr, "Labdeck stand-in web server (%s): serving %s on port %d\n", name,
          webapps ? webapps : root, port);

  for (;;) {
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    int client = accept(server, (struct sockaddr *)&peer, &plen);
    if (client < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS) usleep(100000);
      continue; /* EINTR, ECONNABORTED and the like: keep serving */
    }
    char addr[INET6_ADDRSTRLEN];
    format_addr(&peer, addr, sizeof addr);
    pid_t child = fork();
    if (child == 0) {
      signal(SIGTERM, SIG_DFL);
      signal(SIGINT, SIG_DFL);
      signal(SIGQUIT, SIG_DFL);
      close(server);
      alarm(120); /* a stuck client cannot keep a child forever */
      handle(client, addr);
      shutdown(client, SHUT_WR);
      close(client);
      _exit(0);
    }
    if (child < 0) handle(client, addr); /* no more processes: serve it here */
    close(client);
  }
}
