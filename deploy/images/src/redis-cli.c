/* Labdeck stand-in for redis-cli, shipped with the stand-in redis-server.
 *
 *   redis-cli [-h host] [-p port] [-n db] [-a password] [-r N] [-i secs]
 *             [-x] [--raw | --no-raw] [cmd [arg...]]
 *
 * With a command it sends it and prints the reply; without, it reads
 * commands line by line ("quoted args" allowed) with a prompt when stdin is
 * a terminal. Replies print as real redis-cli prints them: on a terminal
 * "42" quoted, (integer) 42, (nil), (error) ERR ..., 1) ... for arrays;
 * elsewhere (pipes, `docker exec` without -t) bare values: 42, OK, PONG.
 *
 * Built static (gcc -O2 -static) so that it runs on a BusyBox root.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef REDIS_VERSION
#define REDIS_VERSION "7.2.4"
#endif

enum { OUT_TTY, OUT_RAW };

typedef struct reply {
  char type; /* + - : $ * ; '_' for nil */
  char *str;
  size_t len;
  long long integer;
  size_t elements;
  struct reply **element;
} reply;

static const char *host = "127.0.0.1";
static int port = 6379;
static int dbnum;
static const char *password;
static int output;
static int interactive;
static int fd = -1;
static char rbuf[65536];
static size_t rlen, rpos;

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "Out of memory\n");
    exit(1);
  }
  return p;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) {
    fprintf(stderr, "Out of memory\n");
    exit(1);
  }
  return p;
}

/* ---- growing strings ---- */

typedef struct {
  char *s;
  size_t len, cap;
} buf;

static void bcat(buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->s = xrealloc(b->s, b->cap);
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = 0;
}

static void bstr(buf *b, const char *s) { bcat(b, s, strlen(s)); }

static void bfmt(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bfmt(buf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n >= (int)sizeof tmp) n = sizeof tmp - 1;
  bcat(b, tmp, (size_t)n);
}

/* As redis-cli's sdscatrepr: "quoted", with escapes. */
static void brepr(buf *b, const char *s, size_t n) {
  bcat(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    switch (c) {
    case '\\': bstr(b, "\\\\"); break;
    case '"': bstr(b, "\\\""); break;
    case '\n': bstr(b, "\\n"); break;
    case '\r': bstr(b, "\\r"); break;
    case '\t': bstr(b, "\\t"); break;
    case '\a': bstr(b, "\\a"); break;
    case '\b': bstr(b, "\\b"); break;
    default:
      if (isprint(c)) bcat(b, (const char *)&s[i], 1);
      else bfmt(b, "\\x%02x", c);
    }
  }
  bcat(b, "\"", 1);
}

/* ---- connection ---- */

static int connect_server(void) {
  struct addrinfo hints, *res, *ai;
  char portstr[16];
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  snprintf(portstr, sizeof portstr, "%d", port);
  int rc = getaddrinfo(host, portstr, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "Could not connect to Redis at %s:%d: %s\n", host, port, gai_strerror(rc));
    return -1;
  }
  int err = 0;
  for (ai = res; ai; ai = ai->ai_next) {
    int s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (s < 0) {
      err = errno;
      continue;
    }
    if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0) {
      int one = 1;
      setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      freeaddrinfo(res);
      fd = s;
      rlen = rpos = 0;
      return 0;
    }
    err = errno;
    close(s);
  }
  freeaddrinfo(res);
  fprintf(stderr, "Could not connect to Redis at %s:%d: %s\n", host, port, strerror(err));
  return -1;
}

static void disconnect(void) {
  if (fd >= 0) close(fd);
  fd = -1;
}

static int send_command(int argc, char **argv, size_t *lens) {
  buf b = {0};
  bfmt(&b, "*%d\r\n", argc);
  for (int i = 0; i < argc; i++) {
    bfmt(&b, "$%zu\r\n", lens[i]);
    bcat(&b, argv[i], lens[i]);
    bcat(&b, "\r\n", 2);
  }
  size_t off = 0;
  int rc = 0;
  while (off < b.len) {
    ssize_t w = write(fd, b.s + off, b.len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      rc = -1;
      break;
    }
    off += (size_t)w;
  }
  free(b.s);
  return rc;
}

/* Read exactly n bytes, or a line up to CRLF when n is 0. */
static int fill(void) {
  if (rpos > 0) {
    memmove(rbuf, rbuf + rpos, rlen - rpos);
    rlen -= rpos;
    rpos = 0;
  }
  if (rlen == sizeof rbuf) return -1;
  for (;;) {
    ssize_t r = read(fd, rbuf + rlen, sizeof rbuf - rlen);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    rlen += (size_t)r;
    return 0;
  }
}

static char *read_line(size_t *n) {
  for (;;) {
    char *cr = memchr(rbuf + rpos, '\n', rlen - rpos);
    if (cr) {
      char *line = rbuf + rpos;
      size_t l = (size_t)(cr - line);
      if (l > 0 && line[l - 1] == '\r') l--;
      char *out = xmalloc(l + 1);
      memcpy(out, line, l);
      out[l] = 0;
      rpos = (size_t)(cr - rbuf) + 1;
      *n = l;
      return out;
    }
    if (fill() < 0) return NULL;
  }
}

static int read_bytes(char *dst, size_t n) {
  while (n > 0) {
    if (rpos == rlen && fill() < 0) return -1;
    size_t take = rlen - rpos < n ? rlen - rpos : n;
    memcpy(dst, rbuf + rpos, take);
    rpos += take;
    dst += take;
    n -= take;
  }
  return 0;
}

static void free_reply(reply *r) {
  if (!r) return;
  for (size_t i = 0; i < r->elements; i++) free_reply(r->element[i]);
  free(r->element);
  free(r->str);
  free(r);
}

static reply *read_reply(void) {
  size_t n;
  char *line = read_line(&n);
  if (!line) return NULL;
  reply *r = calloc(1, sizeof *r);
  if (!r) exit(1);
  r->type = line[0];
  switch (line[0]) {
  case '+':
  case '-':
    r->len = n - 1;
    r->str = xmalloc(n);
    memcpy(r->str, line + 1, n);
    break;
  case ':':
    r->integer = strtoll(line + 1, NULL, 10);
    break;
  case '$': {
    long long l = strtoll(line + 1, NULL, 10);
    if (l < 0) {
      r->type = '_';
      break;
    }
    r->len = (size_t)l;
    r->str = xmalloc(r->len + 2);
    if (read_bytes(r->str, r->len + 2) < 0) goto fail;
    r->str[r->len] = 0;
    break;
  }
  case '*': {
    long long l = strtoll(line + 1, NULL, 10);
    if (l < 0) {
      r->type = '_';
      break;
    }
    r->elements = (size_t)l;
    r->element = calloc(r->elements ? r->elements : 1, sizeof *r->element);
    if (!r->element) exit(1);
    for (size_t i = 0; i < r->elements; i++) {
      if (!(r->element[i] = read_reply())) goto fail;
    }
    break;
  }
  default:
    fprintf(stderr, "Protocol error: unexpected reply \"%s\"\n", line);
    goto fail;
  }
  free(line);
  return r;
fail:
  free(line);
  free_reply(r);
  return NULL;
}

/* ---- formatting, as redis-cli's cliFormatReplyTTY and cliFormatReplyRaw ---- */

static void format_tty(buf *b, reply *r, const char *prefix) {
  switch (r->type) {
  case '-':
    bstr(b, "(error) ");
    bcat(b, r->str, r->len);
    bstr(b, "\n");
    break;
  case '+':
    bcat(b, r->str, r->len);
    bstr(b, "\n");
    break;
  case ':':
    bfmt(b, "(integer) %lld\n", r->integer);
    break;
  case '$':
    brepr(b, r->str, r->len);
    bstr(b, "\n");
    break;
  case '_':
    bstr(b, "(nil)\n");
    break;
  case '*':
    if (r->elements == 0) {
      bstr(b, "(empty array)\n");
    } else {
      int idxlen = 0;
      for (size_t i = r->elements; i; i /= 10) idxlen++;
      char *sub = xmalloc(strlen(prefix) + (size_t)idxlen + 3);
      sprintf(sub, "%s%*s", prefix, idxlen + 2, "");
      for (size_t i = 0; i < r->elements; i++) {
        bfmt(b, "%s%*zu) ", i == 0 ? "" : prefix, idxlen, i + 1);
        format_tty(b, r->element[i], sub);
      }
      free(sub);
    }
    break;
  }
}

static void format_raw(buf *b, reply *r) {
  switch (r->type) {
  case '_':
    break;
  case '-':
    bcat(b, r->str, r->len);
    bstr(b, "\n");
    break;
  case '+':
  case '$':
    bcat(b, r->str, r->len);
    break;
  case ':':
    bfmt(b, "%lld", r->integer);
    break;
  case '*':
    for (size_t i = 0; i < r->elements; i++) {
      if (i > 0) bstr(b, "\n");
      format_raw(b, r->element[i]);
    }
    break;
  }
}

static void print_reply(reply *r, int verbatim) {
  buf b = {0};
  if (verbatim) {
    format_raw(&b, r);
  } else if (output == OUT_TTY) {
    format_tty(&b, r, "");
  } else {
    format_raw(&b, r);
    bstr(&b, "\n");
  }
  if (b.len) fwrite(b.s, 1, b.len, stdout);
  fflush(stdout);
  free(b.s);
}

/* Send a command and print its reply. Returns -1 when the link is lost. */
static int run(int argc, char **argv, size_t *lens, int print) {
  if (fd < 0 && connect_server() < 0) return -1;
  if (send_command(argc, argv, lens) < 0) {
    disconnect();
    if (connect_server() < 0 || send_command(argc, argv, lens) < 0) return -1;
  }
  reply *r = read_reply();
  if (!r) {
    fprintf(stderr, "Error: Server closed the connection\n");
    disconnect();
    return -1;
  }
  if (print) print_reply(r, strcasecmp(argv[0], "info") == 0 && r->type == '$');
  if (strcasecmp(argv[0], "select") == 0 && argc == 2 && r->type != '-') dbnum = atoi(argv[1]);
  if (strcasecmp(argv[0], "quit") == 0) disconnect();
  free_reply(r);
  return 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = tolower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Split a typed line as redis-cli does. Returns argc, or -1 on bad quotes. */
static int split_line(const char *p, char ***argvp, size_t **lensp) {
  char **argv = NULL;
  size_t *lens = NULL;
  int argc = 0;
  size_t n = strlen(p);
  char *cur = xmalloc(n + 1);
  for (;;) {
    while (*p && isspace((unsigned char)*p)) p++;
    if (!*p) break;
    size_t cl = 0;
    int inq = 0, insq = 0, done = 0;
    while (!done) {
      if (inq) {
        if (!*p) goto bad;
        if (*p == '\\' && p[1] == 'x' && hexval(p[2]) >= 0 && hexval(p[3]) >= 0) {
          cur[cl++] = (char)(hexval(p[2]) * 16 + hexval(p[3]));
          p += 3;
        } else if (*p == '\\' && p[1]) {
          p++;
          cur[cl++] = *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p == 't' ? '\t' : *p == 'b' ? '\b' : *p == 'a' ? '\a' : *p;
        } else if (*p == '"') {
          if (p[1] && !isspace((unsigned char)p[1])) goto bad;
          done = 1;
        } else {
          cur[cl++] = *p;
        }
        p++;
      } else if (insq) {
        if (!*p) goto bad;
        if (*p == '\\' && p[1] == '\'') {
          p++;
          cur[cl++] = '\'';
        } else if (*p == '\'') {
          if (p[1] && !isspace((unsigned char)p[1])) goto bad;
          done = 1;
        } else {
          cur[cl++] = *p;
        }
        p++;
      } else if (!*p || isspace((unsigned char)*p)) {
        done = 1;
      } else if (*p == '"') {
        inq = 1;
        p++;
      } else if (*p == '\'') {
        insq = 1;
        p++;
      } else {
        cur[cl++] = *p++;
      }
    }
    argv = xrealloc(argv, sizeof *argv * (size_t)(argc + 1));
    lens = xrealloc(lens, sizeof *lens * (size_t)(argc + 1));
    argv[argc] = xmalloc(cl + 1);
    memcpy(argv[argc], cur, cl);
    argv[argc][cl] = 0;
    lens[argc] = cl;
    argc++;
  }
  free(cur);
  *argvp = argv;
  *lensp = lens;
  return argc;
bad:
  free(cur);
  for (int i = 0; i < argc; i++) free(argv[i]);
  free(argv);
  free(lens);
  return -1;
}

static void repl(void) {
  int tty_in = isatty(0);
  char *line = NULL;
  size_t cap = 0;
  if (fd < 0) connect_server();
  for (;;) {
    if (tty_in) {
      if (fd < 0) printf("not connected> ");
      else if (dbnum) printf("%s:%d[%d]> ", host, port, dbnum);
      else printf("%s:%d> ", host, port);
      fflush(stdout);
    }
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) break;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    char **argv;
    size_t *lens;
    int argc = split_line(line, &argv, &lens);
    if (argc < 0) {
      printf("Invalid argument(s)\n");
      continue;
    }
    if (argc == 0) continue;
    if (strcasecmp(argv[0], "quit") == 0 || strcasecmp(argv[0], "exit") == 0) break;
    if (strcasecmp(argv[0], "clear") == 0) {
      printf("\033[H\033[2J");
    } else if (strcasecmp(argv[0], "help") == 0 || strcmp(argv[0], "?") == 0) {
      printf("redis-cli %s (Labdeck stand-in)\nType a command and its arguments, e.g. SET counter 42, GET counter, INCR counter, KEYS *.\n"
             "The server is a Labdeck stand-in for Redis: strings only, database 0 only.\nType quit or press Ctrl-D to leave.\n",
             REDIS_VERSION);
    } else {
      run(argc, argv, lens, 1);
    }
    for (int i = 0; i < argc; i++) free(argv[i]);
    free(argv);
    free(lens);
  }
  free(line);
}

static void usage(int rc) {
  fprintf(rc ? stderr : stdout,
          "redis-cli %s (Labdeck stand-in)\n\n"
          "Usage: redis-cli [OPTIONS] [cmd [arg [arg ...]]]\n"
          "  -h <hostname>      Server hostname (default: 127.0.0.1).\n"
          "  -p <port>          Server port (default: 6379).\n"
          "  -a <password>      Password to use when connecting to the server.\n"
          "  -n <db>            Database number.\n"
          "  -r <repeat>        Execute specified command N times.\n"
          "  -i <interval>      When -r is used, waits <interval> seconds per command.\n"
          "  -x                 Read last argument from STDIN.\n"
          "  --raw              Use raw formatting for replies.\n"
          "  --no-raw           Force formatted output even if STDOUT is not a tty.\n"
          "  --version          Output version and exit.\n"
          "Without a command, commands are read from the terminal (or STDIN), one per line.\n",
          REDIS_VERSION);
  exit(rc);
}

int main(int argc, char **argv) {
  long repeat = 1;
  double interval = 0;
  int stdinarg = 0;
  output = isatty(1) ? OUT_TTY : OUT_RAW;
  int i;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    int last = i == argc - 1;
    if (strcmp(a, "-h") == 0 && !last) host = argv[++i];
    else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) usage(0);
    else if (strcmp(a, "-p") == 0 && !last) port = atoi(argv[++i]);
    else if (strcmp(a, "-n") == 0 && !last) dbnum = atoi(argv[++i]);
    else if ((strcmp(a, "-a") == 0 || strcmp(a, "--pass") == 0) && !last) password = argv[++i];
    else if (strcmp(a, "-r") == 0 && !last) repeat = strtol(argv[++i], NULL, 10);
    else if (strcmp(a, "-i") == 0 && !last) interval = atof(argv[++i]);
    else if (strcmp(a, "-x") == 0) stdinarg = 1;
    else if (strcmp(a, "--raw") == 0) output = OUT_RAW;
    else if (strcmp(a, "--no-raw") == 0) output = OUT_TTY;
    else if (strcmp(a, "--no-auth-warning") == 0) continue;
    else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
      printf("redis-cli %s (Labdeck stand-in)\n", REDIS_VERSION);
      return 0;
    } else if (a[0] == '-' && a[1] && !isdigit((unsigned char)a[1])) {
      fprintf(stderr, "Unrecognized option or bad number of args for: '%s'\n", a);
      return 1;
    } else {
      break;
    }
  }
  int cmdc = argc - i;
  char **cmdv = argv + i;
  interactive = cmdc == 0 && !stdinarg;

  if (connect_server() < 0) {
    if (!interactive) return 1;
  } else {
    if (password) {
      fprintf(stderr, "Warning: Using a password with '-a' or '-u' option on the command line interface may not be safe.\n");
      char *av[] = {"AUTH", (char *)password};
      size_t lv[] = {4, strlen(password)};
      send_command(2, av, lv);
      reply *r = read_reply();
      if (r && r->type == '-') fprintf(stderr, "AUTH failed: %s\n", r->str);
      free_reply(r);
    }
    if (dbnum) {
      char num[16];
      snprintf(num, sizeof num, "%d", dbnum);
      char *av[] = {"SELECT", num};
      size_t lv[] = {6, strlen(num)};
      send_command(2, av, lv);
      reply *r = read_reply();
      if (!r || r->type == '-') {
        if (r) fprintf(stderr, "%s\n", r->str);
        dbnum = 0;
      }
      free_reply(r);
    }
  }

  if (interactive) {
    repl();
    return 0;
  }

  /* One command, perhaps repeated; -x appends STDIN as the last argument. */
  char **av = xmalloc(sizeof *av * (size_t)(cmdc + 1));
  size_t *lv = xmalloc(sizeof *lv * (size_t)(cmdc + 1));
  for (int j = 0; j < cmdc; j++) {
    av[j] = cmdv[j];
    lv[j] = strlen(cmdv[j]);
  }
  if (stdinarg) {
    buf in = {0};
    char tmp[65536];
    size_t r;
    while ((r = fread(tmp, 1, sizeof tmp, stdin)) > 0) bcat(&in, tmp, r);
    av[cmdc] = in.s ? in.s : "";
    lv[cmdc] = in.len;
    cmdc++;
  }
  if (cmdc == 0) usage(1);
  while (repeat < 0 || repeat-- > 0) {
    if (run(cmdc, av, lv, 1) < 0) return 1;
    if (interval > 0) usleep((useconds_t)(interval * 1e6));
  }
  return 0;
}
