/* `postern passwd USER` (gateway/passwd.c). */
#ifndef GW_PASSWD_H
#define GW_PASSWD_H

/* argv: {"postern", "passwd", USER}. Returns the exit status. */
int gw_passwd_main(int argc, char **argv);

#endif
