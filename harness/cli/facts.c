/* facts — the run's facts in results.json ("facts"): racelab's version, the kernel, libevent's
 * version, when racelab started (UTC), its command line and working folder; the report shows
 * them. */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#ifndef RACELAB_VERSION
#define RACELAB_VERSION "unknown"
#endif

static char command[4096];
static time_t started;

/* An argument as a shell would need it: bare when it is only safe bytes, else in single
 * quotes. */
static size_t quote(char *out, size_t len, const char *a)
{
    bool bare = *a != '\0';
    for (const char *p = a; *p && bare; p++)
        bare = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%",
                      *p) != NULL;
    if (bare)
        return (size_t)snprintf(out, len, "%s", a);
    size_t o = 0;
    if (o + 1 < len)
        out[o++] = '\'';
    for (const char *p = a; *p && o + 5 < len; p++) {
        if (*p == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else {
            out[o++] = *p;
        }
    }
    if (o + 1 < len)
        out[o++] = '\'';
    out[o < len ? o : len - 1] = '\0';
    return o;
}

void cli_set_command(int argc, char **argv)
{
    size_t o = 0;
    started = time(NULL);
    command[0] = '\0';
    for (int i = 0; i < argc && o + 2 < sizeof(command); i++) {
        if (i)
            command[o++] = ' ';
        o += quote(command + o, sizeof(command) - o, argv[i]);
        if (o >= sizeof(command))
            o = sizeof(command) - 1;
    }
    command[o] = '\0';
}

json_t *cli_facts(void)
{
    struct utsname u;
    char kernel[600] = "", date[32] = "", cwd[PATH_MAX] = "";
    if (uname(&u) == 0)
        snprintf(kernel, sizeof(kernel), "%s %s %s", u.sysname, u.release, u.machine);
    struct tm tm;
    if (started && gmtime_r(&started, &tm))
        strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!getcwd(cwd, sizeof(cwd)))
        cwd[0] = '\0';
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "racelab_version", RACELAB_VERSION, "kernel",
                     kernel, "libevent", event_get_version(), "started", date, "command", command,
                     "cwd", cwd);
}
