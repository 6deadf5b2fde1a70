/*
 * hostopt.h - the host metadata options of the commands that decode raw audit events (ecs,
 * hunt, scan, preview): whether, and with which overrides, the decoder adds this machine's
 * host.* fields (Elastic Agent's add_host_metadata) to raw events.
 *
 * The spellings are contracts (docs/cli.md) and differ by command, so each command lists the
 * ones it accepts in its own getopt_long table, with these values as `val`:
 *   --host-metadata (scan, preview): CLI_HOST_ON, no_argument (the default, kept for scripts)
 *   --no-host-metadata (scan, preview), --no-host (ecs, hunt): CLI_HOST_OFF, no_argument
 *   --host-name NAME (ecs, scan, preview): CLI_HOST_NAME, required_argument
 *   --host-os-type TYPE (ecs, scan, preview): CLI_HOST_OS_TYPE, required_argument
 * and passes every option getopt_long returns to cli_host_opt() before its own switch. This
 * file prints nothing: a missing argument comes back from getopt_long as usual and each
 * command reports it with its own wording and exit code.
 *
 * Deviation (docs/internals/cli-includes.txt): includes event/event.h for struct ev_host.
 */
#ifndef KAD_CLI_HOSTOPT_H
#define KAD_CLI_HOSTOPT_H

#include "event/event.h"

#include <stdbool.h>

/* getopt_long values: above every short option and every value a command uses for its own
   options (scan's start at 256). */
enum {
    CLI_HOST_ON = 0x4800,
    CLI_HOST_OFF,
    CLI_HOST_NAME,
    CLI_HOST_OS_TYPE,
};

/* Zero-initialised: host metadata on, no overrides. The strings are the caller's (argv). */
struct cli_host {
    bool off;                   /* --no-host / --no-host-metadata: add no host.* */
    const char *name, *os_type; /* --host-name (host.name and host.hostname), --host-os-type */
    struct ev_host host;        /* filled by cli_host_get(); strings point into store or argv */
    char store[4096];
};

/* If c (a getopt_long result) is one of the CLI_HOST_* values, apply it (arg: optarg; the last
   of several wins) and return true; otherwise change nothing and return false. */
bool cli_host_opt(struct cli_host *h, int c, const char *arg);

/* The host.* to give ev_decoder_opts.host: NULL when off, else this machine's fields
   (ev_host_detect) with the overrides applied. Points into *h, valid while *h is and until the
   next call (the decoder copies it, so passing it to ev_decoder_new is enough). */
const struct ev_host *cli_host_get(struct cli_host *h);

#endif
