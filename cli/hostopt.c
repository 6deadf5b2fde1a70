/*
 * hostopt.c - the host metadata options shared by ecs, hunt, scan and preview (hostopt.h):
 * recording them and building the host.* the decoder adds. It neither parses argv itself nor
 * prints anything; detection of this machine's fields is the event module's (ev_host_detect).
 */
#include "hostopt.h"

bool cli_host_opt(struct cli_host *h, int c, const char *arg)
{
    switch (c) {
    case CLI_HOST_ON: h->off = false; return true;
    case CLI_HOST_OFF: h->off = true; return true;
    case CLI_HOST_NAME: h->name = arg; return true;
    case CLI_HOST_OS_TYPE: h->os_type = arg; return true;
    default: return false;
    }
}

const struct ev_host *cli_host_get(struct cli_host *h)
{
    if (h->off)
        return NULL;
    ev_host_detect(&h->host, h->store, sizeof(h->store));
    if (h->name)
        h->host.name = h->host.hostname = h->name;
    if (h->os_type)
        h->host.os_type = h->os_type;
    return &h->host;
}
