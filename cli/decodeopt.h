/*
 * decodeopt.h - the clock options of the commands that decode raw audit events (ecs, scan,
 * preview): where a raw event's @timestamp comes from and whether event.ingested is set
 * (time-and-state.md "Two clocks": both choices are overridable on the command line).
 *
 *   --timestamp stage|request|received  (ecs, scan, preview): CLI_DEC_TIMESTAMP
 *   --ingested now|none                 (ecs, scan): CLI_DEC_INGESTED
 *
 * Each command lists the spellings it accepts in its getopt_long table with these values as
 * `val` and passes every option to cli_decode_opt() before its own switch. Nothing is printed
 * here: a bad value comes back as -1 and the command reports it with its own wording.
 *
 * Deviation (docs/internals/cli-includes.txt): includes event/event.h for ev_decoder_opts.
 */
#ifndef KAD_CLI_DECODEOPT_H
#define KAD_CLI_DECODEOPT_H

#include "event/event.h"

/* getopt_long values (above hostopt.h's). */
enum {
    CLI_DEC_TIMESTAMP = 0x4900,
    CLI_DEC_INGESTED,
};

/* Apply option c (a getopt_long result) with value arg to o: 1 when applied, -1 when c is one
   of ours but arg is not an accepted value, 0 when c is not ours (o unchanged). */
int cli_decode_opt(struct ev_decoder_opts *o, int c, const char *arg);

/* What option c accepts, for error messages ("--ingested must be 'now' or 'none'"). */
const char *cli_decode_usage(int c);

#endif
