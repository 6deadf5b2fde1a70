/*
 * decodeopt.h - the options shared by the commands that decode raw audit events (ecs, hunt,
 * scan, preview), in one place: host metadata (Elastic Agent's add_host_metadata) and the two
 * clocks (semantics.md "Two clocks"), recorded into kad_decode_opts.
 *
 *   --host-metadata (scan, preview): CLI_HOST_ON (the default, kept for scripts)
 *   --no-host-metadata (scan, preview), --no-host (ecs, hunt): CLI_HOST_OFF
 *   --host-name NAME (ecs, scan, preview): CLI_HOST_NAME
 *   --host-os-type TYPE (ecs, scan, preview): CLI_HOST_OS_TYPE
 *   --timestamp stage|request|received (ecs, scan, preview): CLI_DEC_TIMESTAMP
 *   --ingested now|none (ecs, scan): CLI_DEC_INGESTED
 *
 * The spellings are contracts (docs/cli.md) and differ by command, so each command lists the
 * ones it accepts in its own getopt_long table with these values as `val`, and passes every
 * option getopt_long returns to cli_decode_opt() before its own switch. Nothing is printed
 * here: a bad value comes back as -1 and each command reports it with its own wording.
 */
#ifndef KAD_CLI_DECODEOPT_H
#define KAD_CLI_DECODEOPT_H

#include "kad.h"

/* getopt_long values: above every short option and every value a command uses for its own
   options (scan's start at 256). */
enum {
    CLI_HOST_ON = 0x4800,
    CLI_HOST_OFF,
    CLI_HOST_NAME,
    CLI_HOST_OS_TYPE,
};
enum {
    CLI_DEC_TIMESTAMP = 0x4900,
    CLI_DEC_INGESTED,
};

/* Apply option c (a getopt_long result) with value arg (optarg, kept: the strings are argv's;
   the last of several wins) to o: 1 when applied, -1 when c is one of ours but arg is not an
   accepted value, 0 when c is not ours (o unchanged). */
int cli_decode_opt(kad_decode_opts *o, int c, const char *arg);

/* What option c accepts, for error messages ("--ingested must be 'now' or 'none'"). */
const char *cli_decode_usage(int c);

#endif
