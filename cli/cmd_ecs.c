/*
 * cmd_ecs.c - `kadet ecs`: raw Kubernetes audit events in (files, stdin, .gz), one ECS
 * document per event out as NDJSON, the document Elastic's Kubernetes integration would store.
 * A loop over libkad's reader and decoder (kad_reader, kad_decode).
 */
#include "cmd.h"
#include "decodeopt.h"
#include "kad.h"
#include "suggest.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct cmd cmd_ecs;

struct ecs_run {
    uint64_t bad;
    int io_rc;
};

/* The input is quiet (a pipe with nothing to read yet): what is printed so far goes out now. */
static void on_idle(void *ctx)
{
    struct ecs_run *r = ctx;
    if (fflush(stdout) != 0)
        r->io_rc = KAD_EIO;
}

static int on_event(void *ctx, const kad_event *ev)
{
    struct ecs_run *r = ctx;
    size_t len;
    const char *json = kad_event_json(ev, &len);
    if (!json)
        return KAD_ELIMIT;
    if (fwrite(json, 1, len, stdout) != len || putchar('\n') == EOF)
        r->io_rc = KAD_EIO;
    return r->io_rc;
}

static void on_error(void *ctx, const kad_err *err)
{
    struct ecs_run *r = ctx;
    r->bad++;
    cmd_print_err(err);
}

static int run(int argc, char **argv)
{
    kad_decode_opts o = {0};
    size_t max_record = 0;
    static const struct option longopts[] = {
        {"ingested", required_argument, NULL, CLI_DEC_INGESTED},
        {"timestamp", required_argument, NULL, CLI_DEC_TIMESTAMP},
        {"no-host", no_argument, NULL, CLI_HOST_OFF},
        {"host-name", required_argument, NULL, CLI_HOST_NAME},
        {"host-os-type", required_argument, NULL, CLI_HOST_OS_TYPE},
        {"keep-empty", no_argument, NULL, 'k'},
        {"namespace", required_argument, NULL, 's'},
        {"max-record", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
        int dc = cli_decode_opt(&o, c, optarg);
        if (dc < 0)
            return cmd_usage_error(&cmd_ecs, "%s, not '%s'", cli_decode_usage(c), optarg);
        if (dc > 0)
            continue;
        switch (c) {
        case 'k': o.keep_empty = true; break;
        case 's': o.ns = optarg; break;
        case 'm': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || v == 0)
                return cmd_usage_error(&cmd_ecs, "--max-record needs a positive byte count");
            max_record = (size_t)v;
            break;
        }
        case ':':
            return cmd_usage_error(&cmd_ecs, "option '%s' needs an argument", argv[optind - 1]);
        default: return cmd_unknown_option(&cmd_ecs, longopts, argv[optind - 1]);
        }
    }
    o.max_record = max_record;
    kad_decoder *d;
    kad_decoder_new(&d, &o, NULL);
    struct ecs_run r;
    memset(&r, 0, sizeof(r));
    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
    kad_decode_sink sink = {on_event, on_error, &r};
    kad_reader_opts ro = {max_record, on_idle, &r};
    static char *const stdin_only[] = {"-", NULL};
    char *const *files = optind < argc ? argv + optind : stdin_only;
    int status = EXIT_OK;
    for (; *files && !r.io_rc; files++) {
        kad_reader *rd;
        kad_err err;
        kad_err_clear(&err);
        if (kad_reader_open(&rd, *files, &ro, &err)) {
            cmd_print_err(&err);
            status = EXIT_RUNTIME;
            continue;
        }
        kad_record rec;
        int rc;
        while ((rc = kad_reader_next(rd, &rec, &err)) != 0) {
            if (rc < 0) {
                cmd_print_err(&err);
                if (rc == KAD_ELIMIT) {
                    r.bad++;
                    continue;
                }
                status = EXIT_RUNTIME;
                break;
            }
            if (kad_decode(d, &rec, &sink)) {
                status = EXIT_RUNTIME;
                break;
            }
        }
        kad_reader_close(rd);
    }
    if (ferror(stdout))
        r.io_rc = KAD_EIO;
    if (fflush(stdout) != 0 || r.io_rc) {
        fprintf(stderr, "kadet ecs: write error on standard output\n");
        status = EXIT_RUNTIME;
    }
    if (r.bad) {
        fprintf(stderr, "kadet ecs: %llu record%s skipped\n", (unsigned long long)r.bad,
                r.bad == 1 ? "" : "s");
        status = EXIT_RUNTIME;
    }
    kad_decoder_free(d);
    return status;
}

const struct cmd cmd_ecs = {
    .name = "ecs",
    .summary = "convert raw Kubernetes audit events to Elastic ECS documents (NDJSON)",
    .usage =
        "usage: kadet ecs [--ingested now|none] [--timestamp stage|request|received]\n"
        "                 [--no-host] [--host-name NAME] [--host-os-type TYPE]\n"
        "                 [--namespace NS] [--keep-empty] [--max-record BYTES] [FILE...|-]\n"
        "\n"
        "Read Kubernetes audit events (audit.k8s.io/v1 or v1beta1 Events one per line, EventList\n"
        "webhook bodies, JSON arrays, GKE and AKS records, ECS documents; plain or .gz) from the\n"
        "files, or standard input when there are none or FILE is '-', and write one ECS document\n"
        "per event to standard output, as Elastic's Kubernetes integration would store it.\n"
        "\n"
        "  --ingested now|none  set event.ingested to the current time (whole seconds), or leave\n"
        "                       it out (default: none)\n"
        "  --timestamp SRC      @timestamp of raw events: stage (stageTimestamp, the default),\n"
        "                       request (requestReceivedTimestamp) or received (now)\n"
        "  --no-host            leave out host.* (default: this machine, as Elastic Agent adds)\n"
        "  --host-name NAME     host.name and host.hostname\n"
        "  --host-os-type TYPE  host.os.type (default: from uname, e.g. linux)\n"
        "  --namespace NS       data_stream.namespace (default: default)\n"
        "  --keep-empty         keep null, \"\", {} and [] values (Elastic drops them)\n"
        "  --max-record BYTES   longest accepted record (default 16 MiB)\n"
        "\n"
        "A malformed record is reported as FILE:LINE:COL: error: MESSAGE on standard error and\n"
        "skipped. Exit status: 0 when every record converted, 2 when any was skipped or input\n"
        "could not be read, 1 on usage errors.\n",
    .run = run,
};
