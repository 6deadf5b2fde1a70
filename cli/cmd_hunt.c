/*
 * cmd_hunt.c - `kadet hunt QUERY [FILE...]`: ad-hoc KQL over audit logs. Prints the input
 * records (or, with --ecs, the ECS documents) that match, grep-style exit status. Writes no
 * state and runs no rules.
 *
 * Deviation (docs/internals/cli-includes.txt): this command includes event/event.h and
 * kql/kql.h directly; it is a thin loop over the reader, the decoder and kql_match, and a
 * public kad_ API for it would only forward the same calls.
 */
#include "base/buf.h"
#include "cmd.h"
#include "event/event.h"
#include "hostopt.h"
#include "kad.h"
#include "kql/kql.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct cmd cmd_hunt;

/* grep's convention: 0 something matched, 1 nothing matched, 2 trouble (usage errors too). */
enum { HUNT_MATCH = 0, HUNT_NONE = 1, HUNT_ERROR = 2 };
enum { FMT_AUTO, FMT_AUDIT, FMT_ECS };

struct hunt {
    const struct kql_query *q;
    int format;
    bool ecs_out, count_only, quiet;
    kx_buf out;
    uint64_t matched; /* records (or, with --ecs, events) */
    uint64_t bad;
    bool rec_printed; /* the current record was printed already */
    int io_rc;
};

static void flush_out(struct hunt *h)
{
    if (h->out.len && fwrite(h->out.ptr, 1, h->out.len, stdout) != h->out.len)
        h->io_rc = KAD_EIO;
    kx_buf_reset(&h->out);
}

/* The input is quiet (a pipe with nothing to read yet): what is printed so far goes out now. */
static void on_idle(void *ctx)
{
    struct hunt *h = ctx;
    flush_out(h);
    if (fflush(stdout) != 0)
        h->io_rc = KAD_EIO;
}

/* Print the record's bytes once, or the event's ECS document. */
static int emit(struct hunt *h, const struct ev_record *rec, const struct ev_node *doc)
{
    if (h->ecs_out) {
        h->matched++;
    } else {
        if (h->rec_printed)
            return KAD_OK;
        h->rec_printed = true;
        h->matched++;
    }
    if (h->count_only || h->quiet)
        return KAD_OK;
    int rc = h->ecs_out ? ev_json_dump(doc, &h->out) : kx_buf_add(&h->out, rec->ptr, rec->len);
    if (rc || kx_buf_addc(&h->out, '\n')) {
        kx_buf_reset(&h->out);
        return KAD_ELIMIT;
    }
    if (h->out.len >= (1u << 16))
        flush_out(h);
    return h->io_rc;
}

static int on_event(void *ctx, const struct ev_event *ev)
{
    struct hunt *h = ctx;
    if (h->format == FMT_AUDIT && ev->format == EV_FMT_ECS) {
        kad_err err;
        kad_err_clear(&err);
        err.code = KAD_EINVAL;
        err.origin = ev->rec->origin;
        err.line = (uint32_t)ev->rec->line;
        err.col = ev->rec->col;
        snprintf(err.msg, sizeof(err.msg),
                 "not a raw audit event (an ECS document; use "
                 "--format ecs or auto)");
        h->bad++;
        cmd_print_err(&err);
        return KAD_OK;
    }
    if (kql_match(h->q, ev->doc))
        return emit(h, ev->rec, ev->doc);
    return KAD_OK;
}

static void on_error(void *ctx, const kad_err *err)
{
    struct hunt *h = ctx;
    h->bad++;
    cmd_print_err(err);
}

/* --format ecs: each record is the document itself (any JSON object), no decoding. */
static int hunt_plain(struct hunt *h, kx_arena *a, const struct ev_record *rec)
{
    kad_err err;
    kad_err_clear(&err);
    struct ev_node *doc = ev_json_parse(a, rec->ptr, rec->len, rec->origin, &err);
    if (!doc) {
        /* positions are relative to the record; make them relative to the file */
        if (rec->line && err.line) {
            if (err.line == 1)
                err.col += rec->col - 1;
            err.line += (uint32_t)rec->line - 1;
        }
        h->bad++;
        cmd_print_err(&err);
        return KAD_OK;
    }
    return kql_match(h->q, doc) ? emit(h, rec, doc) : KAD_OK;
}

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "kadet: hunt: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'kadet help hunt'.\n");
    return HUNT_ERROR;
}

static int compile_query(const char *text, kx_arena *a, const struct kql_query **q)
{
    kad_err err;
    kad_err_clear(&err);
    *q = kql_compile(a, text, strlen(text), "<query>", &err);
    if (*q)
        return KAD_OK;
    cmd_print_err(&err);
    kx_buf ctx;
    kx_buf_init(&ctx, 1 << 20);
    if (kql_err_context(text, strlen(text), &err, &ctx) == KAD_OK && ctx.len)
        fputs(ctx.ptr, stderr);
    kx_buf_fini(&ctx);
    return err.code;
}

static int run(int argc, char **argv)
{
    struct hunt h;
    memset(&h, 0, sizeof(h));
    struct cli_host host = {0};
    size_t max_record = 0;
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'},
        {"ecs", no_argument, NULL, 'e'},
        {"count", no_argument, NULL, 'c'},
        {"quiet", no_argument, NULL, 'q'},
        {"no-host", no_argument, NULL, CLI_HOST_OFF},
        {"max-record", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "+cq", longopts, NULL)) != -1) {
        if (cli_host_opt(&host, c, optarg))
            continue;
        switch (c) {
        case 'f':
            if (strcmp(optarg, "auto") == 0)
                h.format = FMT_AUTO;
            else if (strcmp(optarg, "audit") == 0)
                h.format = FMT_AUDIT;
            else if (strcmp(optarg, "ecs") == 0)
                h.format = FMT_ECS;
            else
                return usage("--format must be auto, audit or ecs, not '%s'", optarg);
            break;
        case 'e': h.ecs_out = true; break;
        case 'c': h.count_only = true; break;
        case 'q': h.quiet = true; break;
        case 'm': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || v == 0)
                return usage("--max-record needs a positive byte count, not '%s'", optarg);
            max_record = (size_t)v;
            break;
        }
        case ':': return usage("option '%s' needs an argument", argv[optind - 1]);
        default: return usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage("%s", "missing QUERY");
    const char *qtext = argv[optind++];

    kx_arena qa;
    kx_arena_init(&qa, 1 << 14, 0);
    if (compile_query(qtext, &qa, &h.q)) {
        kx_arena_fini(&qa);
        return HUNT_ERROR;
    }
    struct ev_decoder_opts o = {0};
    o.host = cli_host_get(&host);
    o.lim.max_size = max_record;
    struct ev_decoder *d = ev_decoder_new(&o);
    if (h.ecs_out || kql_needs_all(h.q)) {
        ev_decoder_need_all(d);
    } else {
        for (size_t i = 0; i < kql_field_count(h.q); i++)
            ev_decoder_need(d, kql_field(h.q, i), strlen(kql_field(h.q, i)));
    }
    kx_buf_init(&h.out, 0);
    kx_arena a;
    kx_arena_init(&a, 1 << 16, 0);
    struct ev_sink sink = {on_event, on_error, &h};
    static char *const stdin_only[] = {"-", NULL};
    char *const *files = optind < argc ? argv + optind : stdin_only;
    bool trouble = false;
    for (; *files && !h.io_rc; files++) {
        struct ev_reader *rd;
        kad_err err;
        kad_err_clear(&err);
        if (ev_reader_open(&rd, *files, max_record, &err)) {
            cmd_print_err(&err);
            trouble = true;
            continue;
        }
        ev_reader_set_idle(rd, on_idle, &h);
        struct ev_record rec;
        int rc;
        while ((rc = ev_reader_next(rd, &rec, &err)) != 0) {
            if (rc < 0) {
                cmd_print_err(&err);
                trouble = true;
                if (rc == KAD_ELIMIT)
                    continue;
                break;
            }
            h.rec_printed = false;
            int drc = h.format == FMT_ECS ? hunt_plain(&h, &a, &rec)
                                          : ev_decode_record(d, &a, &rec, &sink);
            kx_arena_reset(&a);
            if (drc) {
                trouble = true;
                break;
            }
            if (h.quiet && h.matched)
                break; /* like grep -q: the answer is known */
        }
        ev_reader_close(rd);
        if (h.quiet && h.matched)
            break;
    }
    flush_out(&h);
    if (h.count_only)
        printf("%llu\n", (unsigned long long)h.matched);
    if (fflush(stdout) != 0 || h.io_rc) {
        fprintf(stderr, "kadet hunt: write error on standard output\n");
        trouble = true;
    }
    if (h.bad) {
        fprintf(stderr, "kadet hunt: %llu record%s skipped\n", (unsigned long long)h.bad,
                h.bad == 1 ? "" : "s");
        trouble = true;
    }
    ev_decoder_free(d);
    kx_arena_fini(&a);
    kx_arena_fini(&qa);
    kx_buf_fini(&h.out);
    if (h.quiet && h.matched)
        return HUNT_MATCH;
    return trouble ? HUNT_ERROR : h.matched ? HUNT_MATCH : HUNT_NONE;
}

const struct cmd cmd_hunt = {
    .name = "hunt",
    .summary = "print the audit events that match a KQL query (no rules, no state)",
    .usage =
        "usage: kadet hunt [--format auto|audit|ecs] [--ecs] [-c|--count] [-q|--quiet]\n"
        "                  [--no-host] [--max-record BYTES] QUERY [FILE...|-]\n"
        "\n"
        "Evaluate the KQL query QUERY (docs/kql.md) against every event read from the files, or\n"
        "standard input when there are none or FILE is '-', and print the input records that\n"
        "match, one per line. Events are matched in the ECS form Elastic's Kubernetes\n"
        "integration stores (the form rule queries use: kubernetes.audit.verb, user.name, ...).\n"
        "\n"
        "  --format auto   records are raw audit events (also EventList, GKE, AKS) or ECS\n"
        "                  documents, detected per record (default)\n"
        "  --format audit  records must be raw audit events\n"
        "  --format ecs    records are JSON documents matched as they are, without mapping\n"
        "  --ecs           print the matching events' ECS documents instead of the records\n"
        "  -c, --count     print only the number of matching records (events with --ecs)\n"
        "  -q, --quiet     print nothing; stop at the first match\n"
        "  --no-host       do not add this machine's host.* fields to raw events (Elastic\n"
        "                  Agent adds them; the seed rule's query tests host.os.type)\n"
        "  --max-record BYTES  longest accepted record (default 16 MiB)\n"
        "\n"
        "A bad query is reported as <query>:LINE:COL: error: MESSAGE with the query and a caret.\n"
        "A malformed record is reported as FILE:LINE:COL: error: MESSAGE and skipped.\n"
        "Exit status (grep's): 0 when something matched, 1 when nothing matched, 2 on any error\n"
        "(bad query, bad option, unreadable input, skipped records).\n",
    .run = run,
};
