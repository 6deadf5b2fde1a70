/*
 * cmd_hunt.c - `kadet hunt QUERY [FILE...]`: ad-hoc KQL (or EQL, or ES|QL with --language)
 * over audit logs. Prints the input records (or, with --ecs, the ECS documents) that match, or
 * an ES|QL query's result rows, grep-style exit status. Writes no state and runs no rules. A
 * loop over libkad's reader, decoder and kad_query_match / kad_query_feed.
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
#include <time.h>

extern const struct cmd cmd_hunt;

/* grep's convention: 0 something matched, 1 nothing matched, 2 trouble (usage errors too). */
enum { HUNT_MATCH = 0, HUNT_NONE = 1, HUNT_ERROR = 2 };
enum { FMT_AUTO, FMT_AUDIT, FMT_ECS };

struct hunt {
    const kad_query *q;
    int format;
    bool ecs_out, count_only, quiet;
    uint64_t matched; /* records (or, with --ecs, events) */
    uint64_t bad;
    bool rec_printed; /* the current record was printed already */
    int io_rc;
    bool esql;
    int64_t now_ms; /* ES|QL NOW() */
    kad_query *mq;  /* the same query, for kad_query_feed */
    int feed_rc;
};

static int64_t wall_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The input is quiet (a pipe with nothing to read yet): what is printed so far goes out now. */
static void on_idle(void *ctx)
{
    struct hunt *h = ctx;
    if (fflush(stdout) != 0)
        h->io_rc = KAD_EIO;
}

/* Print the record's bytes once, or the event's ECS document. */
static int emit(struct hunt *h, const kad_event *ev)
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
    const kad_record *rec = kad_event_record(ev);
    const char *p = rec->data;
    size_t n = rec->len;
    if (h->ecs_out && !(p = kad_event_json(ev, &n)))
        return KAD_ELIMIT;
    if (fwrite(p, 1, n, stdout) != n || putchar('\n') == EOF)
        h->io_rc = KAD_EIO;
    return h->io_rc;
}

static int on_event(void *ctx, const kad_event *ev)
{
    struct hunt *h = ctx;
    if (h->format == FMT_AUDIT && kad_event_format(ev) == KAD_FMT_ECS) {
        const kad_record *rec = kad_event_record(ev);
        kad_err err;
        kad_err_clear(&err);
        err.code = KAD_EINVAL;
        err.origin = rec->origin;
        err.line = (uint32_t)rec->line;
        err.col = rec->col;
        snprintf(err.msg, sizeof(err.msg),
                 "not a raw audit event (an ECS document; use "
                 "--format ecs or auto)");
        h->bad++;
        cmd_print_err(&err);
        return KAD_OK;
    }
    if (h->esql) {
        kad_err err;
        kad_err_clear(&err);
        if (kad_query_feed(h->mq, ev, h->now_ms, &err) != KAD_OK) {
            cmd_print_err(&err);
            h->feed_rc = err.code ? err.code : KAD_ELIMIT;
            return h->feed_rc;
        }
        return KAD_OK;
    }
    if (kad_query_match(h->q, ev))
        return emit(h, ev);
    return KAD_OK;
}

static void on_error(void *ctx, const kad_err *err)
{
    struct hunt *h = ctx;
    h->bad++;
    cmd_print_err(err);
}

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "kadet: hunt: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'kadet help hunt'.\n");
    return HUNT_ERROR;
}

static int compile_query(int lang, const char *text, kad_query **q)
{
    kad_err err;
    kad_err_clear(&err);
    char *ctx = NULL;
    *q = kad_query_compile_lang(lang, text, strlen(text), &err, &ctx);
    if (*q)
        return KAD_OK;
    cmd_print_err(&err);
    if (ctx)
        fputs(ctx, stderr);
    kad_free(ctx);
    return err.code ? err.code : KAD_ESYNTAX;
}

static int run(int argc, char **argv)
{
    struct hunt h;
    memset(&h, 0, sizeof(h));
    kad_decode_opts o = {0};
    size_t max_record = 0;
    int lang = KAD_LANG_KUERY;
    bool as_table = false;
    static const struct option longopts[] = {
        {"language", required_argument, NULL, 'L'},
        {"table", no_argument, NULL, 'T'},
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
        if (cli_decode_opt(&o, c, optarg) > 0)
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
        case 'L':
            if (strcmp(optarg, "kuery") == 0 || strcmp(optarg, "kql") == 0)
                lang = KAD_LANG_KUERY;
            else if (strcmp(optarg, "eql") == 0)
                lang = KAD_LANG_EQL;
            else if (strcmp(optarg, "esql") == 0)
                lang = KAD_LANG_ESQL;
            else
                return usage("--language must be kuery, eql or esql, not '%s'", optarg);
            break;
        case 'T': as_table = true; break;
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
        default: {
            const char *guess = cli_suggest_option(argv[optind - 1], longopts);
            if (guess) {
                fprintf(stderr,
                        "kadet: hunt: unknown option '%s'; did you mean '--%s'?\n"
                        "Try 'kadet help hunt'.\n",
                        argv[optind - 1], guess);
                return HUNT_ERROR;
            }
            return usage("unknown option '%s'", argv[optind - 1]);
        }
        }
    }
    if (optind >= argc)
        return usage("%s", "missing QUERY");
    const char *qtext = argv[optind++];

    if (h.ecs_out && lang == KAD_LANG_ESQL)
        return usage("%s", "--ecs prints matching events; ES|QL prints result rows");
    kad_query *q;
    if (compile_query(lang, qtext, &q))
        return HUNT_ERROR;
    /* an EQL sequence is fed like ES|QL and printed at the end: one line per sequence */
    bool seq = kad_query_is_sequence(q);
    if (as_table && lang != KAD_LANG_ESQL && !seq) {
        kad_query_free(q);
        return usage("%s", "--table prints ES|QL result rows or EQL sequences");
    }
    if (seq)
        kad_query_keep_ecs(q, h.ecs_out);
    h.q = q;
    h.mq = q;
    h.esql = lang == KAD_LANG_ESQL || seq;
    h.now_ms = wall_ms();
    o.max_record = max_record;
    kad_decoder *d;
    kad_decoder_new(&d, &o, NULL);
    if (h.ecs_out)
        kad_decoder_need_all(d);
    else
        kad_query_need(q, d);
    static char obuf[1 << 16];
    setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
    kad_decode_sink sink = {on_event, on_error, &h};
    kad_reader_opts ro = {max_record, on_idle, &h};
    static char *const stdin_only[] = {"-", NULL};
    char *const *files = optind < argc ? argv + optind : stdin_only;
    bool trouble = false;
    for (; *files && !h.io_rc; files++) {
        kad_reader *rd;
        kad_err err;
        kad_err_clear(&err);
        if (kad_reader_open(&rd, *files, &ro, &err)) {
            cmd_print_err(&err);
            trouble = true;
            continue;
        }
        kad_record rec;
        int rc;
        while ((rc = kad_reader_next(rd, &rec, &err)) != 0) {
            if (rc < 0) {
                cmd_print_err(&err);
                trouble = true;
                if (rc == KAD_ELIMIT)
                    continue;
                break;
            }
            h.rec_printed = false;
            int drc =
                h.format == FMT_ECS ? kad_decode_plain(d, &rec, &sink) : kad_decode(d, &rec, &sink);
            if (drc || h.feed_rc) {
                trouble = true;
                break;
            }
            if (h.quiet && h.matched)
                break; /* like grep -q: the answer is known */
        }
        kad_reader_close(rd);
        if (h.quiet && h.matched)
            break;
    }
    if (h.esql && !h.feed_rc) {
        kad_err err;
        kad_err_clear(&err);
        size_t nrows = 0;
        char *rows = kad_query_rows(q, as_table, &nrows, &err);
        if (!rows) {
            cmd_print_err(&err);
            trouble = true;
        } else {
            h.matched = nrows;
            if (!h.count_only && !h.quiet && fputs(rows, stdout) == EOF)
                h.io_rc = KAD_EIO;
            kad_free(rows);
        }
    }
    if (ferror(stdout))
        h.io_rc = KAD_EIO;
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
    kad_decoder_free(d);
    kad_query_free(q);
    if (h.quiet && h.matched)
        return HUNT_MATCH;
    return trouble ? HUNT_ERROR : h.matched ? HUNT_MATCH : HUNT_NONE;
}

const struct cmd cmd_hunt = {
    .name = "hunt",
    .summary = "print the audit events that match a KQL or EQL query, or ES|QL result rows",
    .usage =
        "usage: kadet hunt [--language kuery|eql|esql] [--table] [--format auto|audit|ecs]\n"
        "                  [--ecs] [-c|--count] [-q|--quiet] [--no-host] [--max-record BYTES]\n"
        "                  QUERY [FILE...|-]\n"
        "\n"
        "Evaluate the KQL query QUERY (docs/kql.md) against every event read from the files, or\n"
        "standard input when there are none or FILE is '-', and print the input records that\n"
        "match, one per line. Events are matched in the ECS form Elastic's Kubernetes\n"
        "integration stores (the form rule queries use: kubernetes.audit.verb, user.name, ...).\n"
        "\n"
        "  --language kuery  QUERY is KQL (default)\n"
        "  --language eql    QUERY is EQL (docs/eql.md); a sequence prints one NDJSON line per\n"
        "                    sequence found ({\"sequence\", \"join_keys\", \"events\": [{\"_id\",\n"
        "                    \"_source\"}]}), events taken in input (@timestamp) order\n"
        "  --language esql   QUERY is ES|QL (docs/esql.md), run once over every event read;\n"
        "                    its result rows are printed as NDJSON (NOW() is the wall clock)\n"
        "  --table         ES|QL: print the rows as a text table; EQL sequence: one row per\n"
        "                  event (sequence, stage, @timestamp, _id, the query's fields)\n"
        "\n"
        "  --format auto   records are raw audit events (also EventList, GKE, AKS) or ECS\n"
        "                  documents, detected per record (default)\n"
        "  --format audit  records must be raw audit events\n"
        "  --format ecs    records are JSON documents matched as they are, without mapping\n"
        "  --ecs           print the matching events' ECS documents instead of the records\n"
        "  -c, --count     print only the number of matching records (events with --ecs,\n"
        "                  result rows with ES|QL, sequences with an EQL sequence)\n"
        "  -q, --quiet     print nothing; stop at the first match\n"
        "  --no-host       do not add this machine's host.* fields to raw events (Elastic\n"
        "                  Agent adds them; the seed rule's query tests host.os.type)\n"
        "  --max-record BYTES  longest accepted record (default 16 MiB)\n"
        "\n"
        "A bad query is reported as <query>:LINE:COL: error: MESSAGE with the query and a caret.\n"
        "A malformed record is reported as FILE:LINE:COL: error: MESSAGE and skipped.\n"
        "Exit status (grep's): 0 when something matched (ES|QL: some row), 1 when nothing did, 2\n"
        "on any error\n"
        "(bad query, bad option, unreadable input, skipped records).\n",
    .run = run,
};
