/*
 * decodeopt.c - the host metadata and clock options shared by ecs, hunt, scan and preview
 * (decodeopt.h), recorded into kad_decode_opts. It neither parses argv nor prints; detecting
 * this machine's host.* is the library's job.
 */
#include "decodeopt.h"

#include <string.h>

int cli_decode_opt(kad_decode_opts *o, int c, const char *arg)
{
    switch (c) {
    case CLI_HOST_ON: o->no_host = 0; return 1;
    case CLI_HOST_OFF: o->no_host = 1; return 1;
    case CLI_HOST_NAME: o->host_name = arg; return 1;
    case CLI_HOST_OS_TYPE: o->host_os_type = arg; return 1;
    case CLI_DEC_TIMESTAMP:
        if (strcmp(arg, "stage") == 0)
            o->timestamp = KAD_TS_STAGE;
        else if (strcmp(arg, "request") == 0)
            o->timestamp = KAD_TS_REQUEST;
        else if (strcmp(arg, "received") == 0)
            o->timestamp = KAD_TS_RECEIVED;
        else
            return -1;
        return 1;
    case CLI_DEC_INGESTED:
        if (strcmp(arg, "now") == 0)
            o->ingested = KAD_INGESTED_NOW;
        else if (strcmp(arg, "none") == 0)
            o->ingested = KAD_INGESTED_NONE;
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
