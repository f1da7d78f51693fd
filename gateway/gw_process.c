#include "gateway/gw_process.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gateway/gw_clock.h"
#include "gateway/gw_log.h"
#include "gateway/gw_shm.h"
#include "gateway/gw_str.h"
#include "gateway/gw_worker.h"

#ifndef POSTERN_VERSION
#define POSTERN_VERSION "0.0.0"
#endif

#define GW_RESPAWN_MIN_MS 500
#define GW_RESPAWN_MAX_MS 30000
#define GW_HEALTHY_MS 60000 /* a worker that lived this long resets back-off */

struct gw_kid {
    pid_t pid;
    uint64_t started_ms;
    uint64_t respawn_at_ms; /* 0: not waiting to be respawned */
    uint64_t backoff_ms;
};

/*
 * systemd's readiness protocol (sd_notify(3)) without libsystemd: one
 * datagram to $NOTIFY_SOCKET. Nothing happens outside systemd.
 */
static void
gw_process_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t len;
    int fd;

    if (path == NULL || (path[0] != '/' && path[0] != '@') ||
        strlen(path) >= sizeof(sa.sun_path)) {
        return;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    len = strlen(path);
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@') {
        sa.sun_path[0] = '\0'; /* abstract namespace */
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return;
    }
    if (sendto(fd, state, strlen(state), 0, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0) {
        gw_log(GW_LOG_DEBUG, NULL, "event=notify error=\"%s\"",
               strerror(errno));
    }
    close(fd);
}

/*
 * With SO_REUSEPORT a second instance would bind the same address without
 * an error and quietly take half the connections. Before the first worker
 * binds, a plain bind (SO_REUSEADDR only, so TIME_WAIT does not count)
 * tells whether someone already listens there.
 */
static bool
gw_process_listeners_free(const struct gw_config *cfg)
{
    size_t i;
    int one = 1;
    int fd;
    int rc;

    for (i = 0; i < cfg->nlisteners; i++) {
        const struct gw_sockaddr *a = &cfg->listeners[i].addr;

        fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        rc = bind(fd, (const struct sockaddr *)&a->ss, a->len);
        close(fd);
        if (rc != 0 && errno == EADDRINUSE) {
            gw_log(GW_LOG_ERROR, NULL, "event=listen_failed listener=%s "
                   "address=%s error=\"address in use (another instance?)\"",
                   cfg->listeners[i].name, a->text);
            return false;
        }
    }
    return true;
}

static size_t
gw_process_nworkers(const struct gw_config *cfg)
{
    long n;

    if (cfg->process.workers > 0) {
        return cfg->process.workers;
    }
    n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) {
        return 1;
    }
    return n > GW_MAX_WORKERS ? GW_MAX_WORKERS : (size_t)n;
}

int
gw_process_drop_privileges(const struct gw_process_cfg *p)
{
    struct passwd *pw;
    struct group *gr;
    uid_t uid;
    gid_t gid;

    if (geteuid() != 0) {
        if (p->user[0] != '\0') {
            gw_log(GW_LOG_DEBUG, NULL, "event=privileges user=%s "
                   "action=ignored reason=\"not started as root\"", p->user);
        }
        return 0;
    }
    if (p->user[0] == '\0') {
        if (p->run_as_root) {
            gw_log(GW_LOG_WARN, NULL, "event=privileges action=stay_root "
                   "reason=\"process.run_as_root is set\"");
            return 0;
        }
        gw_log(GW_LOG_ERROR, NULL, "event=privileges action=refuse "
               "reason=\"running as root: set process.user (or "
               "process.run_as_root: true)\"");
        return -1;
    }
    pw = getpwnam(p->user);
    if (pw == NULL) {
        gw_log(GW_LOG_ERROR, NULL, "event=privileges error=\"no user %s\"",
               p->user);
        return -1;
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    if (p->group[0] != '\0') {
        gr = getgrnam(p->group);
        if (gr == NULL) {
            gw_log(GW_LOG_ERROR, NULL, "event=privileges error=\"no group "
                   "%s\"", p->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (p->chroot[0] != '\0' && (chroot(p->chroot) != 0 || chdir("/") != 0)) {
        gw_log(GW_LOG_ERROR, NULL, "event=privileges error=\"chroot %s: "
               "%s\"", p->chroot, strerror(errno));
        return -1;
    }
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        gw_log(GW_LOG_ERROR, NULL, "event=privileges error=\"%s\"",
               strerror(errno));
        return -1;
    }
    /* verified: no way back to root */
    if (getuid() != uid || geteuid() != uid || getgid() != gid ||
        getegid() != gid || setuid(0) == 0) {
        gw_log(GW_LOG_ERROR, NULL, "event=privileges error=\"drop not "
               "effective\"");
        return -1;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        gw_log(GW_LOG_WARN, NULL, "event=privileges no_new_privs=failed");
    }
    gw_log(GW_LOG_INFO, NULL, "event=privileges user=%s uid=%ld gid=%ld%s%s",
           p->user, (long)uid, (long)gid,
           p->chroot[0] != '\0' ? " chroot=" : "", p->chroot);
    return 0;
}

struct gw_file_check {
    FILE *out; /* NULL: the log */
    const char *user;
    size_t bad;
};

static void
gw_process_check_file(void *arg, const char *what, const char *path,
                      bool exec)
{
    struct gw_file_check *fc = arg;
    char esc[GW_PATH_MAX * 4];
    bool ok;
    int fd;

    if (exec) {
        ok = access(path, X_OK) == 0;
    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        ok = fd >= 0;
        if (ok) {
            close(fd);
        }
    }
    if (ok) {
        return;
    }
    fc->bad++;
    gw_str_escape(esc, sizeof(esc), (const uint8_t *)path, strlen(path));
    if (fc->out != NULL) {
        fprintf(fc->out, "postern: warning: %s %s is not %s by user %s: a "
                "reload will fail until it is\n", what, esc,
                exec ? "executable" : "readable", fc->user);
    } else {
        gw_log(GW_LOG_WARN, NULL, "event=config_warning warning=\"%s %s is "
               "not %s by user %s: a reload will fail until it is\"", what,
               esc, exec ? "executable" : "readable", fc->user);
    }
}

size_t
gw_process_check_files(const struct gw_config *cfg, FILE *out)
{
    struct gw_file_check fc = {out, cfg->process.user, 0};

    gw_config_each_file(cfg, gw_process_check_file, &fc);
    return fc.bad;
}

size_t
gw_process_check_files_as_user(const struct gw_config *cfg)
{
    pid_t pid;
    int status;

    if (geteuid() != 0 || cfg->process.user[0] == '\0') {
        return 0;
    }
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        return 0;
    }
    if (pid == 0) {
        size_t bad;

        gw_log_set_level(GW_LOG_WARN); /* no "privileges dropped" line */
        if (gw_process_drop_privileges(&cfg->process) != 0) {
            _exit(255); /* logged: the workers could not start either */
        }
        bad = gw_process_check_files(cfg, stderr);
        _exit((int)(bad < 250 ? bad : 250));
    }
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
        return 0;
    }
    return WEXITSTATUS(status) == 255 ? SIZE_MAX
                                      : (size_t)WEXITSTATUS(status);
}

/* A worker's whole life; returns its exit status. */
static int
gw_process_worker(const struct gw_config_source *src, struct gw_config *cfg,
                  struct gw_shm *shm, unsigned id)
{
    struct gw_worker w;
    pid_t master = getppid();
    bool was_root = geteuid() == 0;
    int rc;

    memset(&w, 0, sizeof(w));
    rc = gw_worker_start(&w, id, src, cfg, shm);
    if (rc == 0 && gw_process_drop_privileges(&cfg->process) != 0) {
        rc = -1;
    }
    if (rc == 0 && id == 0 && was_root && geteuid() != 0) {
        /* keys readable by root only work at start and fail at the first
         * reload (a certificate renewal): say so now */
        gw_process_check_files(cfg, NULL);
    }
    /* A master killed outright (SIGKILL, OOM) must not leave workers
     * serving on their own: SIGTERM, a graceful stop, when it dies. Set
     * after the privilege drop, which would clear it; then check that
     * the master did not die in between. */
    if (rc == 0 && (prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) != 0 ||
                    getppid() != master)) {
        gw_log(GW_LOG_WARN, NULL, "event=master_gone worker=%u", id);
        raise(SIGTERM);
    }
    if (rc != 0) {
        gw_worker_stop(&w, true);
        gw_worker_run(&w);
        return GW_EXIT_START;
    }
    gw_log(GW_LOG_INFO, NULL, "event=worker_started worker=%u", id);
    rc = gw_worker_run(&w);
    return rc == 0 ? 0 : 1;
}

static pid_t
gw_process_spawn(const struct gw_config_source *src, struct gw_config *cfg,
                 struct gw_shm *shm, unsigned id, const sigset_t *oldmask)
{
    pid_t pid;
    int rc;

    fflush(NULL);
    pid = fork();
    if (pid != 0) {
        return pid;
    }
    /* the child: back to default signal handling, then a worker */
    signal(SIGHUP, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGQUIT, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    sigprocmask(SIG_SETMASK, oldmask, NULL);
    rc = gw_process_worker(src, cfg, shm, id);
    gw_config_unref(cfg);
    /* exit, not _exit: leak checkers run at exit (stdio was flushed
     * before the fork, so nothing is written twice) */
    exit(rc);
}

static void
gw_process_start_kid(struct gw_kid *k, const struct gw_config_source *src,
                     struct gw_config *cfg, struct gw_shm *shm, unsigned id,
                     const sigset_t *oldmask)
{
    k->respawn_at_ms = 0;
    k->started_ms = gw_clock_ms();
    k->pid = gw_process_spawn(src, cfg, shm, id, oldmask);
    if (k->pid < 0) {
        gw_log(GW_LOG_ERROR, NULL, "event=fork_failed worker=%u error=\"%s\"",
               id, strerror(errno));
        k->pid = 0;
        k->respawn_at_ms = k->started_ms + k->backoff_ms;
    }
}

static bool
gw_process_write_pid(const char *path)
{
    char buf[32];
    int fd;
    int n;

    if (path[0] == '\0') {
        return true;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        gw_log(GW_LOG_ERROR, NULL, "event=pid_file error=\"%s: %s\"", path,
               strerror(errno));
        return false;
    }
    n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (write(fd, buf, (size_t)n) != n) {
        close(fd);
        return false;
    }
    close(fd);
    return true;
}

static void
gw_process_kill_all(struct gw_kid *kids, size_t n, int sig)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (kids[i].pid > 0) {
            kill(kids[i].pid, sig);
        }
    }
}

static size_t
gw_process_alive(const struct gw_kid *kids, size_t n)
{
    size_t i;
    size_t alive = 0;

    for (i = 0; i < n; i++) {
        alive += kids[i].pid > 0 ? 1 : 0;
    }
    return alive;
}

/* Re-reads the config in the master; only a valid one reaches workers. */
static struct gw_config *
gw_process_reload(const struct gw_config_source *src, struct gw_config *cur)
{
    struct gw_config *cfg = gw_reload_config(src);

    if (cfg == NULL) {
        return NULL;
    }
    gw_log(GW_LOG_INFO, NULL, "event=reload_validated");
    gw_config_unref(cur);
    return cfg;
}

/* Reaps dead workers; returns false when one could not start (fatal). */
static bool
gw_process_reap(struct gw_kid *kids, size_t n, struct gw_shm *shm,
                bool stopping)
{
    bool ok = true;
    pid_t pid;
    int status;
    size_t i;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (i = 0; i < n && kids[i].pid != pid; i++) {
        }
        if (i == n) {
            continue;
        }
        kids[i].pid = 0;
        gw_shm_reset_worker(shm, i);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && stopping) {
            continue;
        }
        if (WIFEXITED(status)) {
            gw_log(stopping ? GW_LOG_INFO : GW_LOG_ERROR, NULL,
                   "event=worker_exited worker=%zu pid=%ld status=%d", i,
                   (long)pid, WEXITSTATUS(status));
            if (WEXITSTATUS(status) == GW_EXIT_START) {
                ok = false;
            }
        } else if (WIFSIGNALED(status)) {
            gw_log(GW_LOG_ERROR, NULL, "event=worker_killed worker=%zu "
                   "pid=%ld signal=%d", i, (long)pid, WTERMSIG(status));
        }
        if (!stopping) {
            uint64_t now = gw_clock_ms();

            if (now - kids[i].started_ms > GW_HEALTHY_MS) {
                kids[i].backoff_ms = GW_RESPAWN_MIN_MS;
            } else if (kids[i].backoff_ms * 2 <= GW_RESPAWN_MAX_MS) {
                kids[i].backoff_ms *= 2;
            } else {
                kids[i].backoff_ms = GW_RESPAWN_MAX_MS;
            }
            kids[i].respawn_at_ms = now + kids[i].backoff_ms;
            gw_log(GW_LOG_WARN, NULL, "event=worker_respawn worker=%zu "
                   "in_ms=%llu", i, (unsigned long long)kids[i].backoff_ms);
        }
    }
    return ok;
}

static int
gw_process_master(const struct gw_config_source *src, struct gw_config *cfg,
                  struct gw_shm *shm, size_t n)
{
    struct gw_kid kids[GW_MAX_WORKERS];
    sigset_t set;
    sigset_t oldmask;
    siginfo_t info;
    struct timespec ts;
    bool stopping = false;
    bool failed = false;
    uint64_t now;
    size_t i;
    int sig;

    memset(kids, 0, sizeof(kids));
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    sigprocmask(SIG_BLOCK, &set, &oldmask);
    for (i = 0; i < n; i++) {
        kids[i].backoff_ms = GW_RESPAWN_MIN_MS;
        gw_process_start_kid(&kids[i], src, cfg, shm, (unsigned)i, &oldmask);
    }
    gw_log(GW_LOG_INFO, NULL, "event=master_started workers=%zu", n);
    gw_process_notify("READY=1");
    while (!stopping || gw_process_alive(kids, n) > 0) {
        ts.tv_sec = 0;
        ts.tv_nsec = 250 * 1000000L;
        sig = sigtimedwait(&set, &info, &ts);
        switch (sig) {
        case SIGCHLD:
            if (!gw_process_reap(kids, n, shm, stopping) && !stopping) {
                gw_log(GW_LOG_ERROR, NULL, "event=master_stop reason=\"a "
                       "worker could not start\"");
                failed = true;
                stopping = true;
                gw_process_kill_all(kids, n, SIGQUIT);
            }
            break;
        case SIGHUP: {
            struct gw_config *next = gw_process_reload(src, cfg);

            if (next != NULL && !stopping) {
                cfg = next;
                gw_log_set_level(cfg->log_level);
                gw_process_kill_all(kids, n, SIGHUP);
                gw_process_notify("READY=1");
            } else if (next != NULL) {
                cfg = next;
            }
            break;
        }
        case SIGTERM:
        case SIGINT:
            gw_log(GW_LOG_INFO, NULL, "event=master_stop mode=%s",
                   stopping ? "fast" : "graceful");
            gw_process_notify("STOPPING=1");
            gw_process_kill_all(kids, n, stopping ? SIGQUIT : SIGTERM);
            stopping = true;
            break;
        case SIGQUIT:
            gw_log(GW_LOG_INFO, NULL, "event=master_stop mode=fast");
            gw_process_kill_all(kids, n, SIGQUIT);
            stopping = true;
            break;
        default:
            break; /* timeout: respawns below */
        }
        now = gw_clock_ms();
        for (i = 0; i < n && !stopping; i++) {
            if (kids[i].pid == 0 && kids[i].respawn_at_ms != 0 &&
                now >= kids[i].respawn_at_ms) {
                gw_process_start_kid(&kids[i], src, cfg, shm, (unsigned)i,
                                     &oldmask);
            }
        }
    }
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    gw_config_unref(cfg);
    gw_log(GW_LOG_INFO, NULL, "event=master_stopped");
    return failed ? 1 : 0;
}

int
gw_process_run(const struct gw_config_source *src, struct gw_config *cfg)
{
    struct gw_shm *shm;
    size_t n = cfg->process.master ? gw_process_nworkers(cfg) : 1;
    char pid_file[GW_PATH_MAX];
    int rc;

    gw_log_set_level(cfg->log_level);
    gw_log_set_format(cfg->log_format, cfg->log_sink);
    gw_log(GW_LOG_INFO, NULL, "event=started version=%s", POSTERN_VERSION);
    if (!gw_process_listeners_free(cfg)) {
        gw_config_unref(cfg);
        return 1;
    }
    shm = gw_shm_create(n, cfg->limits.connections + 1,
                        gw_config_policy_capacity(cfg));
    if (shm == NULL) {
        gw_log(GW_LOG_ERROR, NULL, "event=start error=\"shared memory: "
               "%s\"", strerror(errno));
        gw_config_unref(cfg);
        return 1;
    }
    if (!gw_process_write_pid(cfg->process.pid_file)) {
        gw_shm_destroy(shm);
        gw_config_unref(cfg);
        return 1;
    }
    gw_strlcpy(pid_file, cfg->process.pid_file, sizeof(pid_file));
    if (cfg->process.master) {
        rc = gw_process_master(src, cfg, shm, n);
    } else {
        rc = gw_process_worker(src, cfg, shm, 0);
        gw_config_unref(cfg);
        rc = rc == GW_EXIT_START ? 1 : rc;
    }
    if (pid_file[0] != '\0') {
        unlink(pid_file);
    }
    gw_shm_destroy(shm);
    return rc;
}

int
gw_process_signal(const struct gw_config *cfg, const char *action)
{
    char buf[32];
    FILE *fp;
    long pid;
    int sig;

    if (strcmp(action, "reload") == 0) {
        sig = SIGHUP;
    } else if (strcmp(action, "stop") == 0) {
        sig = SIGTERM;
    } else if (strcmp(action, "quit") == 0) {
        sig = SIGQUIT;
    } else {
        fprintf(stderr, "postern: -s takes reload, stop or quit\n");
        return 2;
    }
    if (cfg->process.pid_file[0] == '\0') {
        fprintf(stderr, "postern: no process.pid_file in the config\n");
        return 1;
    }
    fp = fopen(cfg->process.pid_file, "r");
    if (fp == NULL || fgets(buf, sizeof(buf), fp) == NULL) {
        fprintf(stderr, "postern: cannot read %s: %s\n",
                cfg->process.pid_file, strerror(errno));
        if (fp != NULL) {
            fclose(fp);
        }
        return 1;
    }
    fclose(fp);
    pid = strtol(buf, NULL, 10);
    if (pid <= 1 || kill((pid_t)pid, sig) != 0) {
        fprintf(stderr, "postern: cannot signal pid %ld: %s\n", pid,
                strerror(errno));
        return 1;
    }
    return 0;
}
