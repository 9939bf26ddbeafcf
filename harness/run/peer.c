#include "peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "scenario.h"

/* How long a driver may take to answer --version (an interpreter starting on a busy machine). */
#define PROBE_TIMEOUT_MS 20000

const char *run_peer_path(const char *bin_dir, bool client, const char *kind, char *buf, size_t len)
{
    char prog[128];
    snprintf(buf, len, "%s/%s", bin_dir, scenario_peer_program(client, kind, prog, sizeof(prog)));
    return buf;
}

/* The first line of a file, without its newline ("" when there is none). */
static void first_line(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fgets(buf, (int)len, f))
        buf[strcspn(buf, "\r\n")] = '\0';
    fclose(f);
}

int run_peer_probe(const char *bin_dir, bool client, const char *kind, char *why, size_t len)
{
    char path[4096], prog[128];
    if (scenario_peer_is_racelab(kind))
        return 0;
    scenario_peer_program(client, kind, prog, sizeof(prog));
    run_peer_path(bin_dir, client, kind, path, sizeof(path));
    if (access(path, X_OK) != 0) {
        snprintf(why, len,
                 "%s not built (%s: %s; the build makes it when its library or runtime is "
                 "found: scripts/setup installs them, docs/%s.md)",
                 prog, path, strerror(errno), client ? "clients" : "servers");
        return 1;
    }
    char errp[] = "/tmp/racelab-probe-XXXXXX";
    int fd = mkstemp(errp);
    if (fd < 0) {
        snprintf(why, len, "%s: cannot probe it: %s", prog, strerror(errno));
        return 1;
    }
    close(fd);
    char *argv[] = {path, "--version", NULL};
    struct child ch = {0};
    char msg[512];
    int rc = 1;
    if (child_spawn(&ch, prog, argv, "/dev/null", errp, msg, sizeof(msg)) != 0) {
        snprintf(why, len, "%s", msg);
    } else if (child_wait(&ch, PROBE_TIMEOUT_MS, NULL) != 0) {
        child_stop(&ch, SIGKILL, 1000);
        snprintf(why, len, "%s --version did not answer within %d ms", prog, PROBE_TIMEOUT_MS);
    } else if (child_code(&ch) != 0) {
        char line[400], how[64];
        first_line(errp, line, sizeof(line));
        child_describe(&ch, how, sizeof(how));
        snprintf(why, len, "%s cannot run here (--version: %s%s%s)", prog, how, line[0] ? ": " : "",
                 line);
    } else {
        rc = 0;
    }
    unlink(errp);
    return rc;
}

bool run_peer_refused(const char *err_path, int code, bool client, const char *kind, char *why,
                      size_t len)
{
    if (code != 2 || scenario_peer_is_racelab(kind))
        return false;
    char line[600];
    first_line(err_path, line, sizeof(line));
    snprintf(why, len, "the %s kind %s cannot express this cell's %s settings: %s",
             client ? "client" : "server", kind, client ? "downstream" : "upstream",
             line[0] ? line : "(it exited with status 2 and said nothing)");
    return true;
}
