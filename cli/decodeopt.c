/*
 * decodeopt.c - the clock options shared by ecs, scan and preview (decodeopt.h): turning
 * --timestamp and --ingested values into ev_decoder_opts. It neither parses argv nor prints.
 */
#include "decodeopt.h"

#include <string.h>

int cli_decode_opt(struct ev_decoder_opts *o, int c, const char *arg)
{
    switch (c) {
    case CLI_DEC_TIMESTAMP:
        if (strcmp(arg, "stage") == 0)
            o->timestamp = EV_TS_STAGE;
        else if (strcmp(arg, "request") == 0)
            o->timestamp = EV_TS_REQUEST;
        else if (strcmp(arg, "received") == 0)
            o->timestamp = EV_TS_RECEIVED;
        else
            return -1;
        return 1;
    case CLI_DEC_INGESTED:
        if (strcmp(arg, "now") == 0)
            o->ingested = EV_INGESTED_NOW;
        else if (strcmp(arg, "none") == 0)
            o->ingested = EV_INGESTED_NONE;
        else
            return -1;
        return 1;
    default: return 0;
    }
}

const char *cli_decode_usage(int c)
{
    return c == CLI_DEC_TIMESTAMP ? "--timestamp must be 'stage', 'request' or 'received'"
                                  : "--ingested must be 'now' or 'none'";
}
