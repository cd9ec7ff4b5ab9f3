/* Labdeck stand-in for redis-server, for the redis images of the course.
 *
 * It is NOT Redis: a small single-threaded server speaking the Redis
 * protocol (RESP2, and inline commands as typed over telnet) with string
 * values only, one database (0), for the lessons on volumes and networks.
 * Commands: PING ECHO SET (EX PX NX XX KEEPTTL GET) GET MGET MSET INCR DECR
 * INCRBY DECRBY APPEND STRLEN DEL EXISTS KEYS EXPIRE TTL PTTL PERSIST TYPE
 * DBSIZE FLUSHALL FLUSHDB SAVE BGSAVE LASTSAVE INFO SELECT AUTH QUIT COMMAND
 * CLIENT CONFIG(GET) TIME SHUTDOWN; anything else is "unknown command".
 *
 * The dataset is kept in DIR/dump.rdb in a format of its own (not Redis's
 * RDB; the same for every version of this stand-in, so a newer one reads an
 * older one's file): written on SAVE, BGSAVE, SHUTDOWN and SIGTERM/SIGINT,
 * and within a second after any write; loaded at start.
 *
 *   redis-server [config-file (ignored)] [--port N] [--dir DIR]
 *                [--dbfilename NAME] [--save ""] [--other-option value...]
 *
 * The version it reports is set at compile time: -DREDIS_VERSION='"7.2.4"'.
 * Built static (gcc -O2 -static) so that it runs on a BusyBox root.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef REDIS_VERSION
#define REDIS_VERSION "7.2.4"
#endif
#ifndef REDIS_MAJOR
#define REDIS_MAJOR 7
#endif
#define DUMP_MAGIC "LABDECK-REDIS-STAND-IN-DUMP 1\n"
#define MAX_BULK (512LL * 1024 * 1024)
#define MAX_INLINE (64 * 1024)

/* ---- logging, in redis-server's format ---- */

static char role = 'C';

static void logmsg(char level, const char *fmt, ...) {
  char msg[1024], when[64];
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  time_t secs = tv.tv_sec;
  localtime_r(&secs, &tm);
  strftime(when, sizeof when, "%d %b %Y %H:%M:%S", &tm);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  printf("%d:%c %s.%03d %c %s\n", (int)getpid(), role, when, (int)(tv.tv_usec / 1000), level, msg);
  fflush(stdout);
}

static long long now_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- the dataset: a chained hash table of strings ---- */

typedef struct entry {
  struct entry *next;
  char *key, *val;
  size_t klen, vlen;
  long long expire; /* absolute ms, 0 = none */
} entry;

static entry **table;
static size_t buckets = 1024, count;
static long long dirty, total_changes, last_save, expired_keys;
static long long total_commands, total_connections;

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    logmsg('#', "Out of memory allocating %zu bytes", n);
    exit(1);
  }
  return p;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) {
    logmsg('#', "Out of memory reallocating %zu bytes", n);
    exit(1);
  }
  return p;
}

static char *memdup(const char *s, size_t n) {
  char *p = xmalloc(n + 1);
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

static uint64_t hash(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

static void free_entry(entry *e) {
  free(e->key);
  free(e->val);
  free(e);
}

static void grow(void) {
  size_t nb = buckets * 2;
  entry **nt = calloc(nb, sizeof *nt);
  if (!nt) return;
  for (size_t i = 0; i < buckets; i++) {
    entry *e = table[i];
    while (e) {
      entry *next = e->next;
      size_t b = hash(e->key, e->klen) % nb;
      e->next = nt[b];
      nt[b] = e;
      e = next;
    }
  }
  free(table);
  table = nt;
  buckets = nb;
}

/* The slot pointing at key's entry (or at the NULL ending its chain). */
static entry **slot(const char *k, size_t kl) {
  entry **p = &table[hash(k, kl) % buckets];
  while (*p && !((*p)->klen == kl && memcmp((*p)->key, k, kl) == 0)) p = &(*p)->next;
  return p;
}

static int delete_key(const char *k, size_t kl) {
  entry **p = slot(k, kl);
  if (!*p) return 0;
  entry *e = *p;
  *p = e->next;
  free_entry(e);
  count--;
  return 1;
}

/* Look a key up, removing it if it has expired. */
static entry *lookup(const char *k, size_t kl) {
  entry **p = slot(k, kl);
  entry *e = *p;
  if (e && e->expire && e->expire <= now_ms()) {
    *p = e->next;
    free_entry(e);
    count--;
    expired_keys++;
    return NULL;
  }
  return e;
}

static entry *store(const char *k, size_t kl, const char *v, size_t vl, int keep_ttl) {
  entry **p = slot(k, kl);
  if (*p) {
    free((*p)->val);
    (*p)->val = memdup(v, vl);
    (*p)->vlen = vl;
    if (!keep_ttl) (*p)->expire = 0;
    return *p;
  }
  entry *e = xmalloc(sizeof *e);
  e->key = memdup(k, kl);
  e->klen = kl;
  e->val = memdup(v, vl);
  e->vlen = vl;
  e->expire = 0;
  e->next = NULL;
  *p = e;
  count++;
  if (count > buckets * 2) grow();
  return e;
}

static void flush_all(void) {
  for (size_t i = 0; i < buckets; i++) {
    entry *e = table[i];
    while (e) {
      entry *next = e->next;
      free_entry(e);
      e = next;
    }
    table[i] = NULL;
  }
  count = 0;
}

static void expire_cycle(void) {
  long long now = now_ms();
  for (size_t i = 0; i < buckets; i++) {
    entry **p = &table[i];
    while (*p) {
      if ((*p)->expire && (*p)->expire <= now) {
        entry *e = *p;
        *p = e->next;
        free_entry(e);
        count--;
        expired_keys++;
      } else {
        p = &(*p)->next;
      }
    }
  }
}

static void touched(long long n) {
  dirty += n;
  total_changes += n;
}

/* ---- persistence ---- */

static const char *dir = ".";
static const char *dbfilename = "dump.rdb";
static int autosave = 1;
static long long save_failed_at;

static int save_db(void) {
  char tmp[PATH_MAX], path[PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s/temp-%d.rdb", dir, (int)getpid());
  snprintf(path, sizeof path, "%s/%s", dir, dbfilename);
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    logmsg('#', "Failed opening the temp RDB file %s (in server root dir %s) for saving: %s", tmp, dir, strerror(errno));
    return -1;
  }
  long long now = now_ms();
  fputs(DUMP_MAGIC, f);
  for (size_t i = 0; i < buckets; i++) {
    for (entry *e = table[i]; e; e = e->next) {
      if (e->expire && e->expire <= now) continue;
      fprintf(f, "K %zu %zu %lld\n", e->klen, e->vlen, e->expire);
      fwrite(e->key, 1, e->klen, f);
      fwrite(e->val, 1, e->vlen, f);
      fputc('\n', f);
    }
  }
  fputs("END\n", f);
  int failed = ferror(f) != 0;
  if (fflush(f) != 0 || fsync(fileno(f)) != 0) failed = 1;
  if (fclose(f) != 0) failed = 1;
  if (failed || rename(tmp, path) != 0) {
    logmsg('#', "Write error saving DB on disk: %s", strerror(errno));
    unlink(tmp);
    return -1;
  }
  dirty = 0;
  last_save = time(NULL);
  save_failed_at = 0;
  logmsg('*', "DB saved on disk");
  return 0;
}

/* Returns 0 when loaded or absent, -1 when the file cannot be read. */
static int load_db(void) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, dbfilename);
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT) return 0;
    logmsg('#', "Fatal error loading the DB: %s. Exiting.", strerror(errno));
    return -1;
  }
  long long start = now_ms();
  char line[256] = "";
  if (!fgets(line, sizeof line, f) || strcmp(line, DUMP_MAGIC) != 0) {
    fclose(f);
    if (strncmp(line, "REDIS", 5) == 0)
      logmsg('#', "%s was written by a real Redis: this Labdeck stand-in reads only its own format. Exiting.", path);
    else
      logmsg('#', "Wrong signature trying to load DB from file %s. Exiting.", path);
    return -1;
  }
  long long now = now_ms();
  for (;;) {
    size_t kl, vl;
    long long expire;
    if (!fgets(line, sizeof line, f)) goto bad;
    if (strcmp(line, "END\n") == 0) break;
    if (sscanf(line, "K %zu %zu %lld", &kl, &vl, &expire) != 3 || kl > MAX_BULK || vl > MAX_BULK) goto bad;
    char *k = xmalloc(kl + 1), *v = xmalloc(vl + 1);
    if (fread(k, 1, kl, f) != kl || fread(v, 1, vl, f) != vl || fgetc(f) != '\n') {
      free(k);
      free(v);
      goto bad;
    }
    if (!expire || expire > now) store(k, kl, v, vl, 0)->expire = expire;
    free(k);
    free(v);
  }
  fclose(f);
  logmsg('*', "Done loading RDB, keys loaded: %zu, keys expired: 0.", count);
  logmsg('*', "DB loaded from disk: %.3f seconds", (now_ms() - start) / 1000.0);
  return 0;
bad:
  fclose(f);
  logmsg('#', "Short read or corrupt data loading DB from %s. Unrecoverable error, aborting now.", path);
  return -1;
}

/* ---- clients and replies ---- */

typedef struct {
  int fd;
  char *in;
  size_t inlen, incap;
  char *out;
  size_t outlen, outcap;
  int closing;
  char *name;
  long long id;
} client;

static client **clients;
static size_t nclients;
static long long next_client_id = 1;

static void add_out(client *c, const char *s, size_t n) {
  if (c->outlen + n > c->outcap) {
    c->outcap = (c->outlen + n) * 2;
    c->out = xrealloc(c->out, c->outcap);
  }
  memcpy(c->out + c->outlen, s, n);
  c->outlen += n;
}

static void reply_fmt(client *c, const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n >= (int)sizeof buf) n = sizeof buf - 1;
  add_out(c, buf, (size_t)n);
}

static void reply_bulk(client *c, const char *s, size_t n) {
  reply_fmt(c, "$%zu\r\n", n);
  add_out(c, s, n);
  add_out(c, "\r\n", 2);
}

static void reply_cstr(client *c, const char *s) { reply_bulk(c, s, strlen(s)); }
static void reply_ok(client *c) { add_out(c, "+OK\r\n", 5); }
static void reply_nil(client *c) { add_out(c, "$-1\r\n", 5); }
static void reply_int(client *c, long long v) { reply_fmt(c, ":%lld\r\n", v); }

static void reply_err(client *c, const char *msg) {
  add_out(c, "-", 1);
  add_out(c, msg, strlen(msg));
  add_out(c, "\r\n", 2);
}

/* ---- commands ---- */

typedef struct {
  int argc;
  char **argv;
  size_t *len;
} args;

static int eq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

/* A whole long long, as Redis parses them (no spaces, no leading '+'). */
static int parse_ll(const char *s, size_t n, long long *out) {
  if (n == 0 || n > 20) return -1;
  char buf[32];
  memcpy(buf, s, n);
  buf[n] = 0;
  if (buf[0] == '+' || isspace((unsigned char)buf[0])) return -1;
  if (n > 1 && buf[0] == '0') return -1;
  if (n > 2 && buf[0] == '-' && buf[1] == '0') return -1;
  char *end;
  errno = 0;
  long long v = strtoll(buf, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

static void wrong_args(client *c, const char *cmd) {
  char msg[256], lower[64];
  size_t i;
  for (i = 0; cmd[i] && i < sizeof lower - 1; i++) lower[i] = (char)tolower((unsigned char)cmd[i]);
  lower[i] = 0;
  snprintf(msg, sizeof msg, "ERR wrong number of arguments for '%s' command", lower);
  reply_err(c, msg);
}

/* Redis's glob: * ? [abc] [^a-z] and \x. */
static int glob_match(const char *p, size_t pl, const char *s, size_t sl) {
  while (pl > 0) {
    switch (*p) {
    case '*':
      while (pl > 1 && p[1] == '*') p++, pl--;
      if (pl == 1) return 1;
      for (size_t i = 0; i <= sl; i++)
        if (glob_match(p + 1, pl - 1, s + i, sl - i)) return 1;
      return 0;
    case '?':
      if (sl == 0) return 0;
      s++, sl--;
      break;
    case '[': {
      if (sl == 0) return 0;
      p++, pl--;
      int negate = pl > 0 && *p == '^', match = 0;
      if (negate) p++, pl--;
      while (pl > 0 && *p != ']') {
        if (*p == '\\' && pl >= 2) {
          p++, pl--;
          if (*p == *s) match = 1;
        } else if (pl >= 3 && p[1] == '-') {
          char lo = p[0], hi = p[2];
          if (lo > hi) { char t = lo; lo = hi; hi = t; }
          if (*s >= lo && *s <= hi) match = 1;
          p += 2, pl -= 2;
        } else if (*p == *s) {
          match = 1;
        }
        p++, pl--;
      }
      if (negate) match = !match;
      if (!match) return 0;
      s++, sl--;
      if (pl == 0) return sl == 0; /* unterminated class */
      break;
    }
    case '\\':
      if (pl >= 2) p++, pl--;
      /* fall through */
    default:
      if (sl == 0 || *p != *s) return 0;
      s++, sl--;
      break;
    }
    p++, pl--;
  }
  return sl == 0;
}

static int port = 6379;
static time_t started;

static void info(client *c, const char *section) {
  char out[8192];
  size_t n = 0;
  int all = !section || eq(section, "all") || eq(section, "default") || eq(section, "everything");
  struct utsname u;
  uname(&u);
  time_t up = time(NULL) - started;
#define ADD(...) n += (size_t)snprintf(out + n, sizeof out - n, __VA_ARGS__)
  if (all || eq(section, "server")) {
    ADD("# Server\r\nredis_version:%s\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\n"
        "redis_build_id:labdeck-stand-in\r\nredis_mode:standalone\r\nlabdeck_stand_in:yes (a small C server speaking the Redis protocol, not Redis)\r\n"
        "os:%s %s %s\r\narch_bits:64\r\nmultiplexing_api:poll\r\nprocess_id:%d\r\n"
        "tcp_port:%d\r\nuptime_in_seconds:%ld\r\nuptime_in_days:%ld\r\nexecutable:/usr/local/bin/redis-server\r\nconfig_file:\r\n\r\n",
        REDIS_VERSION, u.sysname, u.release, u.machine, (int)getpid(), port, (long)up, (long)(up / 86400));
  }
  if (all || eq(section, "clients")) ADD("# Clients\r\nconnected_clients:%zu\r\nblocked_clients:0\r\n\r\n", nclients);
  if (all || eq(section, "memory")) ADD("# Memory\r\nmem_allocator:libc\r\n\r\n");
  if (all || eq(section, "persistence")) {
    ADD("# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:%lld\r\nrdb_bgsave_in_progress:0\r\n"
        "rdb_last_save_time:%lld\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\n\r\n", dirty, last_save);
  }
  if (all || eq(section, "stats")) {
    ADD("# Stats\r\ntotal_connections_received:%lld\r\ntotal_commands_processed:%lld\r\nexpired_keys:%lld\r\n\r\n",
        total_connections, total_commands, expired_keys);
  }
  if (all || eq(section, "replication")) ADD("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n");
  if (all || eq(section, "keyspace")) {
    ADD("# Keyspace\r\n");
    if (count) {
      size_t expires = 0;
      for (size_t i = 0; i < buckets; i++)
        for (entry *e = table[i]; e; e = e->next) expires += e->expire != 0;
      ADD("db0:keys=%zu,expires=%zu,avg_ttl=0\r\n", count, expires);
    }
    ADD("\r\n");
  }
#undef ADD
  if (n >= sizeof out) n = sizeof out - 1;
  /* Redis ends the text without the last blank line. */
  if (n >= 2 && strcmp(out + n - 4, "\r\n\r\n") == 0) n -= 2;
  reply_bulk(c, out, n);
}

/* Incr/decr KEY by delta. */
static void incr_by(client *c, args *a, long long delta) {
  entry *e = lookup(a->argv[1], a->len[1]);
  long long v = 0;
  if (e && parse_ll(e->val, e->vlen, &v) < 0) {
    reply_err(c, "ERR value is not an integer or out of range");
    return;
  }
  if ((delta > 0 && v > LLONG_MAX - delta) || (delta < 0 && v < LLONG_MIN - delta)) {
    reply_err(c, "ERR increment or decrement would overflow");
    return;
  }
  v += delta;
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%lld", v);
  store(a->argv[1], a->len[1], buf, (size_t)n, 1);
  touched(1);
  reply_int(c, v);
}

static void cmd_set(client *c, args *a) {
  int nx = 0, xx = 0, keepttl = 0, get = 0;
  long long expire = 0;
  for (int i = 3; i < a->argc; i++) {
    const char *o = a->argv[i];
    if (eq(o, "NX")) nx = 1;
    else if (eq(o, "XX")) xx = 1;
    else if (eq(o, "KEEPTTL")) keepttl = 1;
    else if (eq(o, "GET")) get = 1;
    else if ((eq(o, "EX") || eq(o, "PX") || eq(o, "EXAT") || eq(o, "PXAT")) && i + 1 < a->argc) {
      long long v;
      if (parse_ll(a->argv[i + 1], a->len[i + 1], &v) < 0) {
        reply_err(c, "ERR value is not an integer or out of range");
        return;
      }
      if (v <= 0) {
        reply_err(c, "ERR invalid expire time in 'set' command");
        return;
      }
      if (eq(o, "EX")) expire = now_ms() + v * 1000;
      else if (eq(o, "PX")) expire = now_ms() + v;
      else if (eq(o, "EXAT")) expire = v * 1000;
      else expire = v;
      i++;
    } else {
      reply_err(c, "ERR syntax error");
      return;
    }
  }
  if ((nx && xx) || (expire && keepttl)) {
    reply_err(c, "ERR syntax error");
    return;
  }
  entry *e = lookup(a->argv[1], a->len[1]);
  if (get) {
    if (e) reply_bulk(c, e->val, e->vlen);
    else reply_nil(c);
  }
  if ((nx && e) || (xx && !e)) {
    if (!get) reply_nil(c);
    return;
  }
  e = store(a->argv[1], a->len[1], a->argv[2], a->len[2], keepttl);
  if (expire) e->expire = expire;
  touched(1);
  if (!get) reply_ok(c);
}

static void cmd_expire(client *c, args *a, long long unit) {
  long long v;
  if (parse_ll(a->argv[2], a->len[2], &v) < 0) {
    reply_err(c, "ERR value is not an integer or out of range");
    return;
  }
  entry *e = lookup(a->argv[1], a->len[1]);
  if (!e) {
    reply_int(c, 0);
    return;
  }
  if (v <= 0) {
    delete_key(a->argv[1], a->len[1]);
  } else {
    e->expire = now_ms() + v * unit;
  }
  touched(1);
  reply_int(c, 1);
}

static void cmd_ttl(client *c, args *a, long long unit) {
  entry *e = lookup(a->argv[1], a->len[1]);
  if (!e) reply_int(c, -2);
  else if (!e->expire) reply_int(c, -1);
  else reply_int(c, (e->expire - now_ms() + unit - 1) / unit);
}

static void unknown(client *c, args *a) {
  char msg[1024];
  size_t n = (size_t)snprintf(msg, sizeof msg, "ERR unknown command '%.128s', with args beginning with: ", a->argv[0]);
  for (int i = 1; i < a->argc && n < sizeof msg - 200; i++)
    n += (size_t)snprintf(msg + n, sizeof msg - n, "'%.128s' ", a->argv[i]);
  for (size_t i = 0; i < n; i++)
    if (msg[i] == '\r' || msg[i] == '\n') msg[i] = ' ';
  reply_err(c, msg);
}

/* Arity as Redis defines it: n exact, -n at least n (command name included). */
static int arity_ok(int argc, int arity) { return arity >= 0 ? argc == arity : argc >= -arity; }

static void dispatch(client *c, args *a) {
  const char *cmd = a->argv[0];
  total_commands++;
  static const struct { const char *name; int arity; } table_arity[] = {
    {"ping", -1}, {"echo", 2}, {"set", -3}, {"get", 2}, {"mget", -2}, {"mset", -3}, {"setnx", 3},
    {"incr", 2}, {"decr", 2}, {"incrby", 3}, {"decrby", 3}, {"append", 3}, {"strlen", 2},
    {"del", -2}, {"unlink", -2}, {"exists", -2}, {"keys", 2}, {"expire", 3}, {"pexpire", 3},
    {"ttl", 2}, {"pttl", 2}, {"persist", 2}, {"type", 2}, {"dbsize", 1}, {"flushall", -1},
    {"flushdb", -1}, {"save", 1}, {"bgsave", -1}, {"lastsave", 1}, {"info", -1}, {"select", 2},
    {"auth", -2}, {"quit", -1}, {"command", -1}, {"client", -2}, {"config", -2}, {"time", 1},
    {"shutdown", -1}, {"hello", -1},
  };
  int known = 0;
  for (size_t i = 0; i < sizeof table_arity / sizeof table_arity[0]; i++) {
    if (eq(cmd, table_arity[i].name)) {
      known = 1;
      if (!arity_ok(a->argc, table_arity[i].arity)) {
        wrong_args(c, cmd);
        return;
      }
      break;
    }
  }
  if (!known) {
    unknown(c, a);
    return;
  }

  if (eq(cmd, "ping")) {
    if (a->argc > 2) wrong_args(c, cmd);
    else if (a->argc == 2) reply_bulk(c, a->argv[1], a->len[1]);
    else add_out(c, "+PONG\r\n", 7);
  } else if (eq(cmd, "echo")) {
    reply_bulk(c, a->argv[1], a->len[1]);
  } else if (eq(cmd, "set")) {
    cmd_set(c, a);
  } else if (eq(cmd, "setnx")) {
    if (lookup(a->argv[1], a->len[1])) {
      reply_int(c, 0);
    } else {
      store(a->argv[1], a->len[1], a->argv[2], a->len[2], 0);
      touched(1);
      reply_int(c, 1);
    }
  } else if (eq(cmd, "get")) {
    entry *e = lookup(a->argv[1], a->len[1]);
    if (e) reply_bulk(c, e->val, e->vlen);
    else reply_nil(c);
  } else if (eq(cmd, "mget")) {
    reply_fmt(c, "*%d\r\n", a->argc - 1);
    for (int i = 1; i < a->argc; i++) {
      entry *e = lookup(a->argv[i], a->len[i]);
      if (e) reply_bulk(c, e->val, e->vlen);
      else reply_nil(c);
    }
  } else if (eq(cmd, "mset")) {
    if (a->argc % 2 == 0) {
      wrong_args(c, cmd);
      return;
    }
    for (int i = 1; i + 1 < a->argc; i += 2) store(a->argv[i], a->len[i], a->argv[i + 1], a->len[i + 1], 0);
    touched((a->argc - 1) / 2);
    reply_ok(c);
  } else if (eq(cmd, "incr")) {
    incr_by(c, a, 1);
  } else if (eq(cmd, "decr")) {
    incr_by(c, a, -1);
  } else if (eq(cmd, "incrby") || eq(cmd, "decrby")) {
    long long d;
    if (parse_ll(a->argv[2], a->len[2], &d) < 0 || (eq(cmd, "decrby") && d == LLONG_MIN)) {
      reply_err(c, "ERR value is not an integer or out of range");
      return;
    }
    incr_by(c, a, eq(cmd, "decrby") ? -d : d);
  } else if (eq(cmd, "append")) {
    entry *e = lookup(a->argv[1], a->len[1]);
    if (!e) {
      e = store(a->argv[1], a->len[1], a->argv[2], a->len[2], 0);
    } else {
      e->val = xrealloc(e->val, e->vlen + a->len[2] + 1);
      memcpy(e->val + e->vlen, a->argv[2], a->len[2]);
      e->vlen += a->len[2];
      e->val[e->vlen] = 0;
    }
    touched(1);
    reply_int(c, (long long)e->vlen);
  } else if (eq(cmd, "strlen")) {
    entry *e = lookup(a->argv[1], a->len[1]);
    reply_int(c, e ? (long long)e->vlen : 0);
  } else if (eq(cmd, "del") || eq(cmd, "unlink")) {
    long long n = 0;
    for (int i = 1; i < a->argc; i++) {
      if (lookup(a->argv[i], a->len[i])) n += delete_key(a->argv[i], a->len[i]);
    }
    touched(n);
    reply_int(c, n);
  } else if (eq(cmd, "exists")) {
    long long n = 0;
    for (int i = 1; i < a->argc; i++) n += lookup(a->argv[i], a->len[i]) != NULL;
    reply_int(c, n);
  } else if (eq(cmd, "keys")) {
    expire_cycle();
    size_t n = 0;
    char *body = NULL;
    size_t blen = 0, bcap = 0;
    for (size_t i = 0; i < buckets; i++) {
      for (entry *e = table[i]; e; e = e->next) {
        if (!glob_match(a->argv[1], a->len[1], e->key, e->klen)) continue;
        char head[32];
        int hl = snprintf(head, sizeof head, "$%zu\r\n", e->klen);
        size_t need = blen + (size_t)hl + e->klen + 2;
        if (need > bcap) {
          bcap = need * 2;
          body = xrealloc(body, bcap);
        }
        memcpy(body + blen, head, (size_t)hl);
        blen += (size_t)hl;
        memcpy(body + blen, e->key, e->klen);
        blen += e->klen;
        memcpy(body + blen, "\r\n", 2);
        blen += 2;
        n++;
      }
    }
    reply_fmt(c, "*%zu\r\n", n);
    if (blen) add_out(c, body, blen);
    free(body);
  } else if (eq(cmd, "expire")) {
    cmd_expire(c, a, 1000);
  } else if (eq(cmd, "pexpire")) {
    cmd_expire(c, a, 1);
  } else if (eq(cmd, "ttl")) {
    cmd_ttl(c, a, 1000);
  } else if (eq(cmd, "pttl")) {
    cmd_ttl(c, a, 1);
  } else if (eq(cmd, "persist")) {
    entry *e = lookup(a->argv[1], a->len[1]);
    if (e && e->expire) {
      e->expire = 0;
      touched(1);
      reply_int(c, 1);
    } else {
      reply_int(c, 0);
    }
  } else if (eq(cmd, "type")) {
    add_out(c, lookup(a->argv[1], a->len[1]) ? "+string\r\n" : "+none\r\n",
            lookup(a->argv[1], a->len[1]) ? 9 : 7);
  } else if (eq(cmd, "dbsize")) {
    expire_cycle();
    reply_int(c, (long long)count);
  } else if (eq(cmd, "flushall") || eq(cmd, "flushdb")) {
    if (a->argc > 2 || (a->argc == 2 && !eq(a->argv[1], "ASYNC") && !eq(a->argv[1], "SYNC"))) {
      reply_err(c, "ERR syntax error");
      return;
    }
    touched((long long)count + 1);
    flush_all();
    reply_ok(c);
  } else if (eq(cmd, "save")) {
    if (save_db() == 0) reply_ok(c);
    else reply_err(c, "ERR");
  } else if (eq(cmd, "bgsave")) {
    /* Saved at once (the dataset is small): the reply is Redis's. */
    logmsg('*', "Background saving started by pid %d", (int)getpid());
    if (save_db() == 0) add_out(c, "+Background saving started\r\n", 28);
    else reply_err(c, "ERR Background saving failed");
  } else if (eq(cmd, "lastsave")) {
    reply_int(c, last_save);
  } else if (eq(cmd, "info")) {
    info(c, a->argc > 1 ? a->argv[1] : NULL);
  } else if (eq(cmd, "select")) {
    long long db;
    if (parse_ll(a->argv[1], a->len[1], &db) < 0) reply_err(c, "ERR value is not an integer or out of range");
    else if (db == 0) reply_ok(c);
    else if (db > 0 && db < 16) reply_err(c, "ERR this Labdeck stand-in for Redis has database 0 only");
    else reply_err(c, "ERR DB index is out of range");
  } else if (eq(cmd, "auth")) {
    reply_err(c, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
  } else if (eq(cmd, "quit")) {
    reply_ok(c);
    c->closing = 1;
  } else if (eq(cmd, "command")) {
    add_out(c, "*0\r\n", 4);
  } else if (eq(cmd, "hello")) {
    reply_err(c, "NOPROTO this Labdeck stand-in for Redis speaks RESP2 only");
  } else if (eq(cmd, "client")) {
    const char *sub = a->argv[1];
    if (eq(sub, "setname") && a->argc == 3) {
      free(c->name);
      c->name = memdup(a->argv[2], a->len[2]);
      reply_ok(c);
    } else if (eq(sub, "getname") && a->argc == 2) {
      if (c->name && *c->name) reply_cstr(c, c->name);
      else reply_nil(c);
    } else if (eq(sub, "id") && a->argc == 2) {
      reply_int(c, c->id);
    } else if (eq(sub, "setinfo") && a->argc == 4) {
      reply_ok(c);
    } else {
      char msg[256];
      snprintf(msg, sizeof msg, "ERR unknown subcommand '%.64s'. Try CLIENT HELP.", sub);
      reply_err(c, msg);
    }
  } else if (eq(cmd, "config")) {
    if (eq(a->argv[1], "get") && a->argc == 3) {
      const char *p = a->argv[2];
      char portbuf[16];
      snprintf(portbuf, sizeof portbuf, "%d", port);
      const char *names[] = {"dir", "dbfilename", "port", "save", "appendonly", "databases"};
      char cwd[PATH_MAX];
      const char *values[] = {getcwd(cwd, sizeof cwd) ? cwd : dir, dbfilename, portbuf,
                              autosave ? "1 1" : "", "no", "1"};
      int n = 0;
      for (int i = 0; i < 6; i++) n += glob_match(p, strlen(p), names[i], strlen(names[i]));
      reply_fmt(c, "*%d\r\n", n * 2);
      for (int i = 0; i < 6; i++) {
        if (!glob_match(p, strlen(p), names[i], strlen(names[i]))) continue;
        reply_cstr(c, names[i]);
        reply_cstr(c, values[i]);
      }
    } else {
      reply_err(c, "ERR this Labdeck stand-in for Redis supports CONFIG GET only");
    }
  } else if (eq(cmd, "time")) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char s[32], us[32];
    snprintf(s, sizeof s, "%ld", (long)tv.tv_sec);
    snprintf(us, sizeof us, "%ld", (long)tv.tv_usec);
    add_out(c, "*2\r\n", 4);
    reply_cstr(c, s);
    reply_cstr(c, us);
  } else if (eq(cmd, "shutdown")) {
    int nosave = a->argc > 1 && eq(a->argv[1], "NOSAVE");
    logmsg('#', "User requested shutdown...");
    if (!nosave) {
      logmsg('*', "Saving the final RDB snapshot before exiting.");
      if (save_db() < 0) {
        reply_err(c, "ERR Errors trying to SHUTDOWN. Check logs.");
        return;
      }
    }
    logmsg('#', "Redis is now ready to exit, bye bye...");
    exit(0);
  }
}

/* ---- protocol parsing ---- */

static void free_args(args *a) {
  for (int i = 0; i < a->argc; i++) free(a->argv[i]);
  free(a->argv);
  free(a->len);
  a->argc = 0;
  a->argv = NULL;
  a->len = NULL;
}

static void add_arg(args *a, const char *s, size_t n) {
  a->argv = xrealloc(a->argv, sizeof *a->argv * (size_t)(a->argc + 1));
  a->len = xrealloc(a->len, sizeof *a->len * (size_t)(a->argc + 1));
  a->argv[a->argc] = memdup(s, n);
  a->len[a->argc] = n;
  a->argc++;
}

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  ch = tolower(ch);
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

/* Split an inline command as Redis does ("double" and 'single' quotes).
 * Returns -1 on unbalanced quotes. */
static int split_inline(const char *p, size_t n, args *a) {
  const char *end = p + n;
  char *buf = xmalloc(n + 1);
  for (;;) {
    while (p < end && isspace((unsigned char)*p)) p++;
    if (p >= end) break;
    size_t bl = 0;
    int inq = 0, insq = 0, done = 0;
    while (!done) {
      if (p >= end) {
        if (inq || insq) {
          free(buf);
          return -1;
        }
        done = 1;
      } else if (inq) {
        if (*p == '\\' && p + 3 < end && p[1] == 'x' && hexval(p[2]) >= 0 && hexval(p[3]) >= 0) {
          buf[bl++] = (char)(hexval(p[2]) * 16 + hexval(p[3]));
          p += 3;
        } else if (*p == '\\' && p + 1 < end) {
          p++;
          char ch = *p;
          buf[bl++] = ch == 'n' ? '\n' : ch == 'r' ? '\r' : ch == 't' ? '\t' : ch == 'b' ? '\b' : ch == 'a' ? '\a' : ch;
        } else if (*p == '"') {
          if (p + 1 < end && !isspace((unsigned char)p[1])) {
            free(buf);
            return -1;
          }
          done = 1;
        } else {
          buf[bl++] = *p;
        }
        p++;
      } else if (insq) {
        if (*p == '\\' && p + 1 < end && p[1] == '\'') {
          p++;
          buf[bl++] = '\'';
        } else if (*p == '\'') {
          if (p + 1 < end && !isspace((unsigned char)p[1])) {
            free(buf);
            return -1;
          }
          done = 1;
        } else {
          buf[bl++] = *p;
        }
        p++;
      } else {
        if (isspace((unsigned char)*p)) done = 1;
        else if (*p == '"') inq = 1, p++;
        else if (*p == '\'') insq = 1, p++;
        else buf[bl++] = *p++;
        if (done) p++;
      }
    }
    add_arg(a, buf, bl);
  }
  free(buf);
  return 0;
}

/* Parse one command from c->in. Returns 1 with a command, 0 if more bytes
 * are needed, -1 on a protocol error (the reply is queued). */
static int parse_command(client *c, args *a, size_t *used) {
  char *in = c->in;
  size_t n = c->inlen;
  if (n == 0) return 0;
  if (in[0] != '*') {
    char *nl = memchr(in, '\n', n);
    if (!nl) {
      if (n > MAX_INLINE) {
        reply_err(c, "ERR Protocol error: too big inline request");
        return -1;
      }
      return 0;
    }
    size_t ll = (size_t)(nl - in);
    size_t take = ll;
    if (take > 0 && in[take - 1] == '\r') take--;
    if (split_inline(in, take, a) < 0) {
      reply_err(c, "ERR Protocol error: unbalanced quotes in request");
      return -1;
    }
    *used = ll + 1;
    return 1;
  }
  size_t pos = 0;
  char *nl = memchr(in, '\r', n);
  if (!nl || (size_t)(nl - in) + 1 >= n) {
    if (n > 1024) {
      reply_err(c, "ERR Protocol error: too big mbulk count string");
      return -1;
    }
    return 0;
  }
  long long items;
  if (parse_ll(in + 1, (size_t)(nl - in - 1), &items) < 0 || items > 1024 * 1024) {
    reply_err(c, "ERR Protocol error: invalid multibulk length");
    return -1;
  }
  pos = (size_t)(nl - in) + 2;
  for (long long i = 0; i < items; i++) {
    if (pos >= n) goto more;
    if (in[pos] != '$') {
      char msg[64];
      snprintf(msg, sizeof msg, "ERR Protocol error: expected '$', got '%c'", in[pos]);
      reply_err(c, msg);
      return -1;
    }
    char *cr = memchr(in + pos, '\r', n - pos);
    if (!cr || (size_t)(cr - in) + 1 >= n) goto more;
    long long bl;
    if (parse_ll(in + pos + 1, (size_t)(cr - in) - pos - 1, &bl) < 0 || bl < 0 || bl > MAX_BULK) {
      reply_err(c, "ERR Protocol error: invalid bulk length");
      return -1;
    }
    pos = (size_t)(cr - in) + 2;
    if (pos + (size_t)bl + 2 > n) goto more;
    add_arg(a, in + pos, (size_t)bl);
    pos += (size_t)bl + 2;
  }
  *used = pos;
  return 1;
more:
  free_args(a);
  return 0;
}

static void drop_client(size_t i) {
  client *c = clients[i];
  close(c->fd);
  free(c->in);
  free(c->out);
  free(c->name);
  free(c);
  clients[i] = clients[--nclients];
}

static void flush_out(client *c) {
  while (c->outlen > 0) {
    ssize_t w = write(c->fd, c->out, c->outlen);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      c->closing = 2; /* broken: drop */
      c->outlen = 0;
      return;
    }
    memmove(c->out, c->out + w, c->outlen - (size_t)w);
    c->outlen -= (size_t)w;
  }
}

/* Read what the client sent and run every complete command. Returns -1 to
 * drop the client. */
static int serve(client *c) {
  for (;;) {
    if (c->incap - c->inlen < 16384) {
      c->incap = c->incap * 2 + 16384;
      c->in = xrealloc(c->in, c->incap);
    }
    ssize_t r = read(c->fd, c->in + c->inlen, c->incap - c->inlen);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (r <= 0) return -1;
    size_t room = c->incap - c->inlen;
    c->inlen += (size_t)r;
    if ((size_t)r < room) break; /* drained for now */
  }
  while (!c->closing) {
    args a = {0, NULL, NULL};
    size_t used = 0;
    int got = parse_command(c, &a, &used);
    if (got < 0) {
      c->closing = 1;
      break;
    }
    if (got == 0) break;
    memmove(c->in, c->in + used, c->inlen - used);
    c->inlen -= used;
    if (a.argc > 0) dispatch(c, &a);
    free_args(&a);
  }
  flush_out(c);
  return c->closing == 2 ? -1 : 0;
}

static int listen_on(int p) {
  int one = 1, zero = 0;
  int s = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s >= 0) {
    struct sockaddr_in6 a6;
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_any;
    a6.sin6_port = htons((unsigned short)p);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(s, (struct sockaddr *)&a6, sizeof a6) == 0 && listen(s, 511) == 0) return s;
    close(s);
  }
  s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct sockaddr_in a4;
  memset(&a4, 0, sizeof a4);
  a4.sin_family = AF_INET;
  a4.sin_addr.s_addr = htonl(INADDR_ANY);
  a4.sin_port = htons((unsigned short)p);
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(s, (struct sockaddr *)&a4, sizeof a4) < 0 || listen(s, 511) < 0) {
    close(s);
    return -1;
  }
  return s;
}

static volatile sig_atomic_t got_signal;
static void on_signal(int sig) { got_signal = sig; }

static void shutdown_now(int sig) {
  logmsg('#', "Received %s scheduling shutdown...", sig == SIGINT ? "SIGINT" : "SIGTERM");
  logmsg('#', "User requested shutdown...");
  int rc = 0;
  if (autosave || dirty) {
    logmsg('*', "Saving the final RDB snapshot before exiting.");
    if (save_db() < 0) rc = 1;
  }
  logmsg('#', "Redis is now ready to exit, bye bye...");
  exit(rc);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (strcmp(o, "-v") == 0 || strcmp(o, "--version") == 0) {
      printf("Redis server v=%s sha=00000000:0 malloc=libc bits=64 build=labdeck-stand-in (not Redis)\n", REDIS_VERSION);
      return 0;
    }
    if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
      printf("Usage: redis-server [/path/to/redis.conf (ignored)] [--port N] [--dir DIR] [--dbfilename NAME] [--save \"\"]\n"
             "Labdeck stand-in for Redis %s: strings only, database 0 only.\n", REDIS_VERSION);
      return 0;
    }
    if (strncmp(o, "--", 2) != 0) {
      if (i == 1) fprintf(stderr, "Labdeck stand-in: configuration file %s ignored\n", o);
      continue;
    }
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(o, "--port") == 0 && v) port = atoi(argv[++i]);
    else if (strcmp(o, "--dir") == 0 && v) dir = argv[++i];
    else if (strcmp(o, "--dbfilename") == 0 && v) dbfilename = argv[++i];
    else if (strcmp(o, "--save") == 0) {
      autosave = !(v && *v == 0) && !(v && strncmp(v, "--", 2) == 0);
      if (v && strncmp(v, "--", 2) != 0) i++;
      while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) i++;
    } else {
      fprintf(stderr, "Labdeck stand-in: option %s ignored\n", o);
      while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) i++;
    }
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  started = time(NULL);
  last_save = started;
  table = calloc(buckets, sizeof *table);
  if (!table) return 1;

  logmsg('#', "oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo");
  logmsg('#', "Redis version=%s, bits=64, commit=00000000, modified=0, pid=%d, just started", REDIS_VERSION, (int)getpid());
  logmsg('#', "This is a Labdeck stand-in: a small C server speaking the Redis protocol (strings only), not Redis");
  role = 'M';
  if (chdir(dir) != 0) {
    logmsg('#', "Can't chdir to '%s': %s", dir, strerror(errno));
    return 1;
  }
  dir = ".";
  int server = listen_on(port);
  if (server < 0) {
    logmsg('#', "Warning: Could not create server TCP listening socket *:%d: %s", port, strerror(errno));
    return 1;
  }
  logmsg('*', "Server initialized");
  if (load_db() < 0) return 1;
#if REDIS_MAJOR >= 7
  logmsg('*', "Ready to accept connections tcp");
#else
  logmsg('*', "Ready to accept connections");
#endif

  /* SIGTERM and SIGINT are blocked but while waiting in ppoll, so they are
   * handled between commands, never in the middle of one. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigset_t blocked, waitmask;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigprocmask(SIG_BLOCK, &blocked, &waitmask);
  sigdelset(&waitmask, SIGTERM);
  sigdelset(&waitmask, SIGINT);

  struct pollfd *fds = NULL;
  size_t fdcap = 0;
  long long last_cron = now_ms();
  for (;;) {
    if (nclients + 1 > fdcap) {
      fdcap = (nclients + 1) * 2;
      fds = xrealloc(fds, fdcap * sizeof *fds);
    }
    fds[0].fd = server;
    fds[0].events = POLLIN;
    for (size_t i = 0; i < nclients; i++) {
      fds[i + 1].fd = clients[i]->fd;
      fds[i + 1].events = (short)(clients[i]->outlen ? POLLOUT : POLLIN);
      fds[i + 1].revents = 0;
    }
    struct timespec tick = {0, 100 * 1000 * 1000};
    int ready = ppoll(fds, nclients + 1, &tick, &waitmask);
    if (got_signal) shutdown_now(got_signal);
    if (ready > 0) {
      /* Clients first, from the end, as drop_client moves the last one. */
      size_t polled = nclients;
      for (size_t i = polled; i-- > 0;) {
        short ev = fds[i + 1].revents;
        if (!ev) continue;
        client *c = clients[i];
        int drop = 0;
        if (ev & POLLOUT) {
          flush_out(c);
          if (c->outlen == 0 && c->closing) drop = 1;
          if (c->closing == 2) drop = 1;
          if (!drop && c->outlen == 0 && c->inlen > 0 && serve(c) < 0) drop = 1;
        } else if (ev & (POLLIN | POLLHUP | POLLERR)) {
          if (serve(c) < 0) drop = 1;
          else if (c->closing && c->outlen == 0) drop = 1;
        }
        if (drop) drop_client(i);
      }
      if (fds[0].revents & POLLIN) {
        for (;;) {
          int fd = accept4(server, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          int one = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          client *c = calloc(1, sizeof *c);
          if (!c) {
            close(fd);
            break;
          }
          c->fd = fd;
          c->id = next_client_id++;
          clients = xrealloc(clients, sizeof *clients * (nclients + 1));
          clients[nclients++] = c;
          total_connections++;
        }
      }
    }
    long long now = now_ms();
    if (now - last_cron >= 1000) {
      last_cron = now;
      expire_cycle();
      /* Within a second after any write, and again 5 s after a failure. */
      if (autosave && dirty > 0 && (!save_failed_at || now - save_failed_at >= 5000)) {
        logmsg('*', "%lld changes in 1 seconds. Saving...", dirty);
        if (save_db() < 0) save_failed_at = now;
      }
    }
  }
}
