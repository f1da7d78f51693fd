/*
 * The process model. With process.master (the default) a master process
 * forks process.workers workers (0: one per CPU), restarts one that dies
 * (with a back-off), and turns signals into actions for all of them:
 * HUP reload (validated by the master first), TERM graceful stop (a second
 * TERM: fast), QUIT fast stop. The master uses no event loop: it waits for
 * signals with sigtimedwait, so a fork never copies a live libuv loop.
 * Without the master, one worker runs in the foreground process.
 */
#ifndef GW_PROCESS_H
#define GW_PROCESS_H

#include <stdio.h>

#include "gateway/gw_config.h"

/* Exit status of a worker that could not start (bind, privileges). */
#define GW_EXIT_START 3

/* Runs Postern until it is stopped; returns the process exit status. */
int gw_process_run(const struct gw_config_source *src, struct gw_config *cfg);

/* Drops root privileges as process.user/group/chroot say, or refuses to go
 * on as root unless process.run_as_root. 0 or -1 (logged). */
int gw_process_drop_privileges(const struct gw_process_cfg *p);

/*
 * Workers read the config and every file it names again at a reload, as
 * process.user: after the privilege drop, checks that they still can and
 * warns for each file they cannot (to out, or to the log when out is
 * NULL). Returns the number of such files.
 */
size_t gw_process_check_files(const struct gw_config *cfg, FILE *out);

/* postern -t as root: the same check in a child that drops privileges as
 * a worker does. Returns the number of files it could not read (at most
 * 250), or SIZE_MAX when the privilege drop itself failed (logged). */
size_t gw_process_check_files_as_user(const struct gw_config *cfg);

/* postern -s reload|stop: signals the instance named by process.pid_file.
 * Returns the exit status. */
int gw_process_signal(const struct gw_config *cfg, const char *action);

#endif
