/*
 * labdeck-term: holds the learner's shell on a pty inside the sandbox, so that
 * the shell belongs to no web process, and relays it to the clients that the
 * web processes attach through the engine's exec stream.
 *
 *   labdeck-term attach [-r] [-s SOCKET] COLS ROWS [SHELL ARGS...]
 *
 * connects stdin and stdout to the holder (listening on SOCKET, by default
 * /run/labdeck/term.sock), starting the holder and SHELL (default: bash -l)
 * first if there is none; -r attaches a read-only watcher, which never
 * starts one and whose size is ignored. A second SOCKET is a second shell.
 *
 * Why not tmux, dtach or abduco: tmux parses and redraws the screen, which
 * measured half of a direct stream's throughput inside the sandbox's CPU
 * quota and added 0.14 ms to each keystroke; dtach and abduco pass bytes on
 * but keep nothing for a client that attaches later. This holder passes
 * bytes on and keeps the last RING bytes of raw output, which it replays to
 * each new client (as Jupyter's terminado does), then the terminal modes a
 * full-screen program has set, and nudges that program to redraw.
 *
 * Every message, both ways, is a frame: a type byte, a 4-byte big-endian
 * length, the payload. Client to holder: 'A' attach (flags, cols, rows: u8,
 * u16, u16), 'I' keystrokes, 'W' window size (cols, rows). Holder to client:
 * 'H' the window size (sent first, and to watchers on every change), 'O'
 * output (the replay first), 'D' detached (a newer learner client took
 * over), 'X' the shell's exit status (i32), after which the holder ends.
 * The client itself sends the 'A' frame and then relays bytes unchanged.
 *
 * What runs in the sandbox is the learner's: the web side trusts none of it
 * and bounds every frame. The holder never grows without bound either: past
 * OUT_HIGH bytes unsent to the learner's client it stops reading the shell
 * (the flood waits in the kernel), and a watcher that falls WATCH_MAX behind
 * is dropped (it attaches again and gets the replay).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static const char *sock_path = "/run/labdeck/term.sock";
#define RING (256 * 1024)
#define CHUNK (64 * 1024)
#define OUT_HIGH (64 * 1024)
#define WATCH_MAX (1024 * 1024)
#define IN_MAX (64 * 1024)
#define MAX_CLIENTS 16
#define MAX_FRAME (1024 * 1024)
#define HEAD 5

enum { F_READONLY = 1 };

struct buf { char *data; size_t len, cap; };

static void buf_add(struct buf *b, const void *data, size_t len) {
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) { perror("labdeck-term: realloc"); exit(1); }
        b->data = grown, b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void buf_drop(struct buf *b, size_t len) {
    memmove(b->data, b->data + len, b->len - len);
    b->len -= len;
}

static void put_frame(struct buf *b, char type, const void *data, uint32_t len) {
    unsigned char head[HEAD] = {type, len >> 24, len >> 16, len >> 8, len};
    buf_add(b, head, HEAD);
    buf_add(b, data, len);
}

static uint16_t u16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* ---- the holder ---------------------------------------------------------- */

struct client {
    int fd;
    int attached, readonly;
    int closing;  /* told 'D': dropped once that has gone out */
    struct buf in, out;
};

static struct client clients[MAX_CLIENTS];
static struct client *learner;   /* the client whose keys and size count */
static int master = -1;
static pid_t shell;
static int sigpipe_fds[2];
static struct winsize size = {.ws_col = 80, .ws_row = 24};

/* The last RING bytes of output, and where the next byte goes. */
static char ring[RING];
static size_t ring_at, ring_len;

/* DEC private modes a program sets and a new client must be told again:
 * application cursor keys, the alternate screen, mouse reports, bracketed
 * paste, a hidden cursor. Tracked across reads by a small parser. */
static const int modes[] = {1, 25, 47, 1000, 1002, 1003, 1006, 1047, 1049, 2004};
#define NMODES (sizeof modes / sizeof modes[0])
static signed char mode_on[NMODES];  /* -1 unknown (not said), 0 reset, 1 set */
static int esc_state, esc_params[8], esc_n;

static void mode_set(int param, int on) {
    for (size_t i = 0; i < NMODES; i++)
        if (modes[i] == param) mode_on[i] = on;
}

static void track_modes(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        switch (esc_state) {
        case 0:
            if (c == 0x1b) esc_state = 1;
            else {
                const unsigned char *next = memchr(p + i, 0x1b, n - i);
                if (!next) return;
                i = next - p - 1;
            }
            break;
        case 1: esc_state = c == '[' ? 2 : 0; break;
        case 2:
            if (c == '?') { esc_state = 3; esc_n = 0; esc_params[0] = 0; }
            else esc_state = 0;
            break;
        case 3:
            if (c >= '0' && c <= '9') {
                if (esc_params[esc_n] < 100000) esc_params[esc_n] = esc_params[esc_n] * 10 + (c - '0');
            } else if (c == ';') {
                if (esc_n < 7) esc_params[++esc_n] = 0;
            } else {
                if (c == 'h' || c == 'l')
                    for (int k = 0; k <= esc_n; k++) mode_set(esc_params[k], c == 'h');
                esc_state = c == 0x1b ? 1 : 0;
            }
            break;
        }
    }
}

static void ring_add(const char *data, size_t len) {
    if (len >= RING) { data += len - RING; len = RING; }
    size_t first = RING - ring_at < len ? RING - ring_at : len;
    memcpy(ring + ring_at, data, first);
    memcpy(ring, data + first, len - first);
    ring_at = (ring_at + len) % RING;
    ring_len = ring_len + len > RING ? RING : ring_len + len;
}

/* The replay: the ring from its first whole line (a cut escape sequence or
 * UTF-8 character must not start it), then the modes in force. */
static void send_replay(struct client *c) {
    size_t start = (ring_at + RING - ring_len) % RING, skip = 0;
    if (ring_len == RING) {
        while (skip < ring_len && ring[(start + skip) % RING] != '\n') skip++;
        skip = skip < ring_len ? skip + 1 : 0;
    }
    size_t len = ring_len - skip, from = (start + skip) % RING;
    char *copy = malloc(len + 1);
    if (!copy) return;
    size_t first = RING - from < len ? RING - from : len;
    memcpy(copy, ring + from, first);
    memcpy(copy + first, ring, len - first);
    for (size_t off = 0; off < len; off += CHUNK)
        put_frame(&c->out, 'O', copy + off, len - off < CHUNK ? len - off : CHUNK);
    free(copy);
    char modes_text[256];
    size_t n = 0;
    for (size_t i = 0; i < NMODES; i++)
        if (mode_on[i] >= 0)
            n += snprintf(modes_text + n, sizeof modes_text - n, "\033[?%d%c", modes[i], mode_on[i] ? 'h' : 'l');
    if (n) put_frame(&c->out, 'O', modes_text, n);
}

static void send_size(struct client *c) {
    unsigned char payload[4] = {size.ws_col >> 8, size.ws_col, size.ws_row >> 8, size.ws_row};
    put_frame(&c->out, 'H', payload, 4);
}

static void drop(struct client *c) {
    close(c->fd);
    free(c->in.data);
    free(c->out.data);
    if (learner == c) learner = NULL;
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

static void resize(int cols, int rows) {
    if (cols < 1 || rows < 1 || cols > 1000 || rows > 1000) return;
    if (cols == size.ws_col && rows == size.ws_row) return;
    size.ws_col = cols, size.ws_row = rows;
    ioctl(master, TIOCSWINSZ, &size);
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (clients[i].fd >= 0 && clients[i].attached && clients[i].readonly) send_size(&clients[i]);
}

/* A full-screen program draws itself again on SIGWINCH (a new client has
 * only the replay of what it drew, maybe cut short). */
static void nudge(void) {
    pid_t group = tcgetpgrp(master);
    if (group > 0 && group != shell) kill(-group, SIGWINCH);
}

static void take_frame(struct client *c, char type, const unsigned char *p, uint32_t len, struct buf *input) {
    if (!c->attached) {
        if (type != 'A' || len < 5) { drop(c); return; }
        c->attached = 1;
        c->readonly = p[0] & F_READONLY;
        if (!c->readonly) {
            if (learner) {  /* a newer tab of the learner takes the shell over */
                put_frame(&learner->out, 'D', "", 0);
                learner->attached = 0;
                learner->closing = 1;
            }
            learner = c;
        }
        send_size(c);
        send_replay(c);
        if (!c->readonly) {
            int before = size.ws_col << 16 | size.ws_row;
            resize(u16(p + 1), u16(p + 3));
            if (before == (size.ws_col << 16 | size.ws_row)) nudge();
        }
        return;
    }
    if (c->readonly) return;
    if (type == 'I') buf_add(input, p, len);
    else if (type == 'W' && len >= 4) resize(u16(p), u16(p + 2));
}

static void read_client(struct client *c, struct buf *input) {
    char data[CHUNK];
    ssize_t n = read(c->fd, data, sizeof data);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        drop(c);
        return;
    }
    buf_add(&c->in, data, n);
    size_t at = 0;
    while (c->fd >= 0 && c->in.len - at >= HEAD) {
        const unsigned char *h = (const unsigned char *)c->in.data + at;
        uint32_t len = (uint32_t)h[1] << 24 | h[2] << 16 | h[3] << 8 | h[4];
        if (len > MAX_FRAME) { drop(c); return; }
        if (c->in.len - at - HEAD < len) break;
        take_frame(c, h[0], h + HEAD, len, input);
        at += HEAD + len;
    }
    if (c->fd >= 0) buf_drop(&c->in, at);
}

static void flush(struct client *c) {
    while (c->out.len) {
        ssize_t n = write(c->fd, c->out.data, c->out.len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) drop(c);
            return;
        }
        buf_drop(&c->out, n);
    }
}

static void on_sigchld(int sig) {
    (void)sig;
    int saved = errno;
    (void)!write(sigpipe_fds[1], "c", 1);
    errno = saved;
}

static void broadcast(char type, const void *data, uint32_t len) {
    for (int i = 0; i < MAX_CLIENTS; i++)
        if (clients[i].fd >= 0 && clients[i].attached) {
            struct client *c = &clients[i];
            put_frame(&c->out, type, data, len);
            if (c->readonly && c->out.len > WATCH_MAX) drop(c);
        }
}

/* The shell ended: what it printed last, its status, then the holder goes. */
static void finish(int status, int listener) {
    char data[CHUNK];
    ssize_t n;
    while ((n = read(master, data, sizeof data)) > 0) {
        ring_add(data, n);
        broadcast('O', data, n);
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    unsigned char payload[4] = {code >> 24, code >> 16, code >> 8, code};
    broadcast('X', payload, 4);
    unlink(sock_path);
    close(listener);
    for (int tries = 0; tries < 50; tries++) {
        int pending = 0;
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (clients[i].fd >= 0) {
                flush(&clients[i]);
                pending |= clients[i].fd >= 0 && clients[i].out.len;
            }
        if (!pending) break;
        poll(NULL, 0, 20);
    }
    exit(0);
}

static void serve(int listener, char **argv) {
    for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
    memset(mode_on, -1, sizeof mode_on);
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) || unlockpt(master)) { perror("labdeck-term: pty"); exit(1); }
    ioctl(master, TIOCSWINSZ, &size);
    /* The holder keeps the terminal's other end open too, so that the
     * master never hangs up before the shell has opened it; the shell's end
     * is told by SIGCHLD. */
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) { perror("labdeck-term: pty"); exit(1); }
    if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK)) exit(1);
    signal(SIGCHLD, on_sigchld);
    signal(SIGPIPE, SIG_IGN);
    shell = fork();
    if (shell < 0) exit(1);
    if (shell == 0) {
        setsid();
        ioctl(slave, TIOCSCTTY, 0);
        dup2(slave, 0), dup2(slave, 1), dup2(slave, 2);
        if (slave > 2) close(slave);
        signal(SIGCHLD, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        setenv("TERM", "xterm-256color", 0);
        setenv("LABDECK_TERM", "1", 1);
        execvp(argv[0], argv);
        _exit(127);
    }
    fcntl(master, F_SETFL, O_NONBLOCK);
    fcntl(listener, F_SETFL, O_NONBLOCK);
    struct buf input = {0};
    for (;;) {
        struct pollfd fds[MAX_CLIENTS + 3];
        int n = 0;
        size_t learner_out = learner ? learner->out.len : 0;
        fds[n++] = (struct pollfd){.fd = listener, .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = sigpipe_fds[0], .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = master,
                                   .events = (learner_out < OUT_HIGH ? POLLIN : 0) | (input.len ? POLLOUT : 0)};
        for (int i = 0; i < MAX_CLIENTS; i++)
            fds[n++] = (struct pollfd){.fd = clients[i].fd,
                                       .events = (input.len < IN_MAX && !clients[i].closing ? POLLIN : 0)
                                                 | (clients[i].out.len ? POLLOUT : 0)};
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR) continue;
            exit(1);
        }
        if (fds[1].revents) {
            char drain[64];
            while (read(sigpipe_fds[0], drain, sizeof drain) > 0) {}
            int status;
            if (waitpid(shell, &status, WNOHANG) == shell) finish(status, listener);
        }
        if (fds[0].revents & POLLIN) {
            int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            int slot = -1;
            for (int i = 0; i < MAX_CLIENTS && fd >= 0; i++)
                if (clients[i].fd < 0) { slot = i; break; }
            if (slot < 0 && fd >= 0) close(fd);
            else if (slot >= 0) clients[slot].fd = fd;
        }
        if (fds[2].revents & POLLIN) {
            /* A pty gives a few KiB a read: what is there goes out as one
             * frame, not one per read (fewer messages for the web side). */
            char data[CHUNK];
            ssize_t got = 0, n;
            while (got < (ssize_t)sizeof data && (n = read(master, data + got, sizeof data - got)) > 0) got += n;
            if (got > 0) {
                ring_add(data, got);
                track_modes((unsigned char *)data, got);
                broadcast('O', data, got);
            }
        }
        if ((fds[2].revents & POLLOUT) && input.len) {
            ssize_t put = write(master, input.data, input.len);
            if (put > 0) buf_drop(&input, put);
        }
        for (int i = 0; i < MAX_CLIENTS; i++) {
            struct pollfd *p = &fds[3 + i];
            if (p->fd < 0 || clients[i].fd != p->fd) continue;
            if ((p->revents & (POLLIN | POLLHUP | POLLERR)) && !clients[i].closing) read_client(&clients[i], &input);
            if (clients[i].fd >= 0 && clients[i].out.len) flush(&clients[i]);
            if (clients[i].fd >= 0 && clients[i].closing && (!clients[i].out.len || (p->revents & (POLLHUP | POLLERR))))
                drop(&clients[i]);
        }
        if (input.len) {  /* keystrokes go at once, not after the next poll */
            ssize_t put = write(master, input.data, input.len);
            if (put > 0) buf_drop(&input, put);
        }
    }
}

/* ---- the client ---------------------------------------------------------- */

static int dial(void) {
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, sock_path, sizeof addr.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) return fd;
    close(fd);
    return -1;
}

/* Start the holder (under a lock, so that two tabs opening at once make one). */
static int start_holder(int cols, int rows, char **argv) {
    mkdir("/run/labdeck", 0700);
    char lock_path[sizeof ((struct sockaddr_un *)0)->sun_path + 8];
    snprintf(lock_path, sizeof lock_path, "%s.lock", sock_path);
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX)) return -1;
    int fd = dial();
    if (fd >= 0) { close(lock); return fd; }
    unlink(sock_path);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, sock_path, sizeof addr.sun_path - 1);
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(077);
    int bound = listener >= 0 && bind(listener, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(listener, 16) == 0;
    umask(old);
    if (!bound) { close(lock); return -1; }
    pid_t pid = fork();
    if (pid == 0) {
        if (fork() != 0) _exit(0);  /* the holder is nobody's child: init reaps it */
        setsid();
        int null = open("/dev/null", O_RDWR);
        /* The exec's stdin and stdout must not stay open in the holder, or the
         * engine's stream would outlive the client. */
        dup2(null, 0), dup2(null, 1), dup2(null, 2);
        if (null > 2) close(null);
        close(lock);
        size.ws_col = cols, size.ws_row = rows;
        serve(listener, argv);
    }
    close(listener);
    if (pid > 0) waitpid(pid, NULL, 0);
    fd = dial();
    close(lock);
    return fd;
}

/* Read what is there into pending; -1 at the end of the stream. */
static int fill(int from, struct buf *pending) {
    char data[CHUNK];
    ssize_t n = read(from, data, sizeof data);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return -1;
    if (n > 0) buf_add(pending, data, n);
    return 0;
}

/* Write what pending holds, as far as the other side takes it. */
static int drain(int to, struct buf *pending) {
    while (pending->len) {
        ssize_t put = write(to, pending->data, pending->len);
        if (put < 0) {
            if (errno == EINTR) continue;
            return errno == EAGAIN ? 0 : -1;
        }
        buf_drop(pending, put);
    }
    return 0;
}

static int attach(int readonly, int cols, int rows, char **argv) {
    int fd = dial();
    if (fd < 0 && !readonly) fd = start_holder(cols, rows, argv);
    if (fd < 0) {
        fprintf(stderr, "labdeck-term: no shell to attach to\n");
        return 3;
    }
    signal(SIGPIPE, SIG_IGN);
    struct buf up = {0}, down = {0};
    unsigned char payload[5] = {readonly ? F_READONLY : 0, cols >> 8, cols, rows >> 8, rows};
    put_frame(&up, 'A', payload, 5);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
    fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
    for (;;) {
        /* Read a side only once what came from it has gone on. */
        struct pollfd fds[2] = {
            {.fd = 0, .events = up.len ? 0 : POLLIN},
            {.fd = fd, .events = (down.len ? 0 : POLLIN) | (up.len ? POLLOUT : 0)},
        };
        struct pollfd out = {.fd = 1, .events = POLLOUT};
        struct pollfd all[3] = {fds[0], fds[1], out};
        if (!down.len) all[2].fd = -1;
        if (poll(all, 3, -1) < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        if ((all[0].revents & (POLLIN | POLLHUP | POLLERR)) && !up.len && fill(0, &up) < 0) return 0;
        if ((all[1].revents & (POLLIN | POLLHUP | POLLERR)) && !down.len && fill(fd, &down) < 0) return 0;
        if (drain(fd, &up) < 0 || drain(1, &down) < 0) return 0;
    }
}

int main(int argc, char **argv) {
    static char *login[] = {"bash", "-l", NULL};
    if (argc >= 2 && strcmp(argv[1], "attach") == 0) {
        int at = 2, readonly = 0;
        if (at < argc && strcmp(argv[at], "-r") == 0) readonly = 1, at++;
        if (at + 1 < argc && strcmp(argv[at], "-s") == 0) {
            sock_path = argv[at + 1], at += 2;
            if (strlen(sock_path) >= sizeof ((struct sockaddr_un *)0)->sun_path) sock_path = "";
        }
        if (argc - at >= 2) {
            int cols = atoi(argv[at]), rows = atoi(argv[at + 1]);
            if (cols < 1 || cols > 1000) cols = 80;
            if (rows < 1 || rows > 1000) rows = 24;
            return attach(readonly, cols, rows, argc - at > 2 ? argv + at + 2 : login);
        }
    }
    fprintf(stderr, "usage: labdeck-term attach [-r] [-s SOCKET] COLS ROWS [SHELL ARGS...]\n");
    return 2;
}
