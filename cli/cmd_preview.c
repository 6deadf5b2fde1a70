/*
 * cmd_preview.c - `kadet preview`: Elastic's scheduled executions of query and new_terms rules
 * replayed over documents (docs/preview.md), as Elastic's rule preview shows them.
 *
 * Deviation (docs/internals/cli-includes.txt): this command includes event/event.h,
 * rule/rule.h and detect/detect.h directly; it is a thin loop over the reader, the decoder, the
 * rule loader and pv_run(), and a public kad_ API would only forward the same calls.
 *
 * Documents that match some rule's query are kept in memory (an execution looks back over the
 * whole history window); the others are dropped as they are read.
 */
#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/map.h"
#include "base/vec.h"
#include "cmd.h"
#include "decodeopt.h"
#include "detect/detect.h"
#include "event/event.h"
#include "kad.h"
#include "kql/kql.h"
#include "rule/rule.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const struct cmd cmd_preview;

struct input {
    struct ev_decoder *dec, *dec2;   /* documents may point into them: freed last */
    kx_arena scratch;                /* one record's events */
    kx_arena docs_arena;             /* every kept document and id, for the whole run */
    const struct rule *const *rules; /* the rules that run: a document none of whose queries
                                        match is neither candidate nor history, so not kept */
    size_t nrules;
    bool partial;     /* documents hold only the fields the rules read (files re-read later) */
    uint32_t file;    /* index of the file being read */
    uint64_t ordinal; /* events read so far from it */
    uint64_t seen;
    KX_VEC(const struct ev_node *) docs;
    KX_VEC(const char *) ids;
    KX_VEC(uint64_t) where; /* file << 40 | ordinal of each kept document */
    /* second pass: full documents of the alerted ones */
    kx_map wanted; /* where -> 1 + index in docs */
    KX_VEC(const struct ev_node *) full;
    bool second;
    uint64_t bad;
};

static int on_event(void *ctx, const struct ev_event *ev)
{
    struct input *in = ctx;
    uint64_t where = (uint64_t)in->file << 40 | in->ordinal++;
    if (in->second) {
        void *v = kx_map_get(&in->wanted, &where, sizeof(where), NULL);
        if (v)
            in->full.ptr[(uintptr_t)v - 1] = pv_doc_copy(&in->docs_arena, ev->doc);
        return 0;
    }
    in->seen++;
    bool keep = false;
    for (size_t i = 0; i < in->nrules && !keep; i++)
        keep = in->rules[i]->kql && kql_match(in->rules[i]->kql, ev->doc);
    if (!keep)
        return 0;
    struct ev_node *doc = pv_doc_copy(&in->docs_arena, ev->doc);
    kx_buf id;
    kx_buf_init(&id, 0);
    det_doc_id(doc, &id);
    KX_VEC_PUSH(&in->docs, doc);
    KX_VEC_PUSH(&in->ids, kx_arena_strndup(&in->docs_arena, id.ptr ? id.ptr : "", id.len));
    KX_VEC_PUSH(&in->where, where);
    kx_buf_fini(&id);
    return 0;
}

static void on_error(void *ctx, const kad_err *err)
{
    struct input *in = ctx;
    if (in->second)
        return; /* reported by the first pass */
    in->bad++;
    cmd_print_err(err);
}

static void need(struct ev_decoder *d, const char *path)
{
    if (path)
        ev_decoder_need(d, path, strlen(path));
}

/* Declare the fields preview reads; false when some rule needs whole documents. */
static bool declare_fields(struct input *in, struct ev_decoder *d)
{
    for (size_t i = 0; i < in->nrules; i++) {
        const struct rule *r = in->rules[i];
        if (!r->kql || kql_needs_all(r->kql) || r->exc_n > 0)
            return false; /* exceptions may read any field */
    }
    static const char *const always[] = {"@timestamp", "_id", "kubernetes.audit.auditID",
                                         "kubernetes.audit.stage"};
    for (size_t i = 0; i < sizeof(always) / sizeof(*always); i++)
        need(d, always[i]);
    for (size_t i = 0; i < in->nrules; i++) {
        const struct rule *r = in->rules[i];
        for (size_t k = 0; k < kql_field_count(r->kql); k++)
            need(d, kql_field(r->kql, k));
        for (size_t k = 0; k < r->new_terms_fields.n; k++)
            need(d, r->new_terms_fields.v[k]);
        for (size_t k = 0; k < r->suppress_group_by.n; k++)
            need(d, r->suppress_group_by.v[k]);
        need(d, r->timestamp_override);
    }
    return true;
}

/*
 * Read every file (or stdin). First pass: keep the documents some query matches (only the
 * fields the rules read when in->partial). Second pass (in->second): the full documents of
 * in->wanted. Returns EXIT_OK or EXIT_RUNTIME (input unreadable).
 */
static int read_inputs(struct input *in, char *const *files, const struct ev_host *host,
                       int ts_source)
{
    struct ev_decoder_opts o;
    memset(&o, 0, sizeof(o)); /* archives: no event.ingested */
    o.host = host;            /* NULL: --no-host-metadata */
    o.timestamp = ts_source;  /* --timestamp stage|request */
    struct ev_decoder *d = ev_decoder_new(&o);
    if (!in->second && in->partial)
        in->partial = declare_fields(in, d);
    if (!in->second && !in->partial)
        ev_decoder_need_all(d);
    struct ev_sink sink = {on_event, on_error, in};
    int status = EXIT_OK;
    for (in->file = 0; files[in->file]; in->file++) {
        struct ev_reader *rd;
        kad_err err;
        kad_err_clear(&err);
        in->ordinal = 0;
        if (ev_reader_open(&rd, files[in->file], 0, &err)) {
            if (!in->second)
                cmd_print_err(&err);
            status = EXIT_RUNTIME;
            continue;
        }
        struct ev_record rec;
        int rc;
        while ((rc = ev_reader_next(rd, &rec, &err)) != 0) {
            if (rc < 0) {
                if (!in->second)
                    cmd_print_err(&err);
                if (rc == KAD_ELIMIT) {
                    in->bad += !in->second;
                    continue;
                }
                status = EXIT_RUNTIME;
                break;
            }
            ev_decode_record(d, &in->scratch, &rec, &sink);
            kx_arena_reset(&in->scratch);
        }
        ev_reader_close(rd);
    }
    /* documents may point into the decoder (e.g. host.* strings): keep it to the end */
    if (in->second)
        in->dec2 = d;
    else
        in->dec = d;
    return status;
}

static void print_msgs(const struct rule *r, const struct pv_result *res, size_t *errors)
{
    for (size_t i = 0; i < res->msgs.len; i++) {
        const struct pv_msg *m = &res->msgs.ptr[i];
        char t[32];
        ev_time_fmt_ms(m->exec_ms, t);
        fprintf(stderr, "kadet preview: rule '%s' execution at %s: %s: %s\n",
                r->rule_id ? r->rule_id : r->name, t, m->is_error ? "error" : "warning", m->text);
        if (m->is_error)
            (*errors)++;
    }
}

static int parse_time(const char *s, int64_t *ms)
{
    if (strcmp(s, "now") == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        return 0;
    }
    return ev_time_parse(s, strlen(s), ms) ? 0 : -1;
}

/*
 * --end auto: the executions Elastic's scheduler would have run over the documents' event
 * times: ticks at multiples of the interval (epoch-aligned), from the first tick at or after the
 * earliest eligible document to the first at or after the latest. False when no eligible
 * document has a time (nothing to run).
 */
static bool auto_ticks(const struct rule *r, const struct pv_doc *d, size_t n, struct pv_opts *o)
{
    int64_t iv = o->interval_ms ? o->interval_ms : r->interval_ms ? r->interval_ms : 300000;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        if (!d[i].eligible || d[i].ts == EV_TIME_NONE)
            continue;
        lo = d[i].ts < lo ? d[i].ts : lo;
        hi = d[i].ts > hi ? d[i].ts : hi;
    }
    if (lo > hi)
        return false;
    int64_t first = lo - ((lo % iv) + iv) % iv;
    first += first < lo ? iv : 0;
    int64_t last = hi - ((hi % iv) + iv) % iv;
    last += last < hi ? iv : 0;
    int64_t count = (last - first) / iv + 1;
    o->end_ms = last;
    o->interval_ms = iv;
    o->invocations = count > 1000000 ? 1000000 : (uint32_t)count;
    return true;
}

static int run(int argc, char **argv)
{
    const char *rules = NULL, *end = NULL, *only = NULL;
    kad_decode_opts clock = {0}; /* host metadata, --timestamp */
    KX_VEC(const char *) exceptions = {0};
    struct pv_opts po = {0, 1, 0};
    static const struct option longopts[] = {
        {"rules", required_argument, NULL, 'r'},
        {"end", required_argument, NULL, 'e'},
        {"invocations", required_argument, NULL, 'n'},
        {"interval", required_argument, NULL, 'i'},
        {"schedule", required_argument, NULL, 'S'},
        {"exceptions", required_argument, NULL, 'x'},
        {"rule", required_argument, NULL, 'R'},
        {"host-metadata", no_argument, NULL, CLI_HOST_ON},
        {"no-host-metadata", no_argument, NULL, CLI_HOST_OFF},
        {"host-name", required_argument, NULL, CLI_HOST_NAME},
        {"host-os-type", required_argument, NULL, CLI_HOST_OS_TYPE},
        {"timestamp", required_argument, NULL, CLI_DEC_TIMESTAMP},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    opterr = 0;
    int c, status = EXIT_OK;
    while ((c = getopt_long(argc, argv, "+r:", longopts, NULL)) != -1) {
        int dc = cli_decode_opt(&clock, c, optarg);
        if (dc < 0) {
            KX_VEC_FREE(&exceptions);
            return cmd_usage_error(&cmd_preview, "%s, not '%s'", cli_decode_usage(c), optarg);
        }
        if (dc > 0 && clock.timestamp == KAD_TS_RECEIVED) {
            KX_VEC_FREE(&exceptions);
            return cmd_usage_error(&cmd_preview, "--timestamp: preview replays archives; use "
                                                 "'stage' or 'request'");
        }
        if (dc > 0)
            continue;
        switch (c) {
        case 'r': rules = optarg; break;
        case 'e': end = optarg; break;
        case 'R': only = optarg; break;
        case 'x': KX_VEC_PUSH(&exceptions, optarg); break;
        case 'n': {
            char *e;
            unsigned long v = strtoul(optarg, &e, 10);
            if (*e || v == 0 || v > 1000000) {
                KX_VEC_FREE(&exceptions);
                return cmd_usage_error(&cmd_preview,
                                       "--invocations needs a number from 1 to "
                                       "1000000, not '%s'",
                                       optarg);
            }
            po.invocations = (uint32_t)v;
            break;
        }
        case 'S': /* time-and-state.md's --schedule INTERVAL: replay over event time */
            end = "auto";
            /* fall through */
        case 'i': {
            kad_err err;
            if (rule_parse_duration(optarg, &po.interval_ms, &err) != KAD_OK ||
                po.interval_ms <= 0) {
                KX_VEC_FREE(&exceptions);
                return cmd_usage_error(&cmd_preview, "%s: bad duration '%s' (e.g. 5m)",
                                       c == 'S' ? "--schedule" : "--interval", optarg);
            }
            break;
        }
        case ':':
            KX_VEC_FREE(&exceptions);
            return cmd_usage_error(&cmd_preview, "option '%s' needs an argument", argv[optind - 1]);
        default:
            KX_VEC_FREE(&exceptions);
            return cmd_usage_error(&cmd_preview, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!rules) {
        KX_VEC_FREE(&exceptions);
        return cmd_usage_error(&cmd_preview, "--rules is required");
    }
    /* no --end (or --end auto): replay over event time (time-and-state.md schedule-replay) */
    bool auto_end = !end || strcmp(end, "auto") == 0;
    if (auto_end && po.invocations != 1) {
        KX_VEC_FREE(&exceptions);
        return cmd_usage_error(&cmd_preview, "--invocations needs --end TIME");
    }
    if (!auto_end && parse_time(end, &po.end_ms) != 0) {
        KX_VEC_FREE(&exceptions);
        return cmd_usage_error(&cmd_preview, "--end: not a date-time: '%s'", end);
    }

    /* rules and exceptions */
    struct rule_set *rs = rule_set_new();
    int lrc = rule_set_load(rs, rules);
    for (size_t i = 0; i < exceptions.len && lrc == KAD_OK; i++)
        lrc = rule_set_load_exceptions(rs, exceptions.ptr[i]);
    KX_VEC_FREE(&exceptions);
    for (size_t i = 0; i < rule_set_diag_count(rs); i++) {
        char msg[1024];
        rule_diag_format(rule_set_diag(rs, i), msg, sizeof(msg));
        fprintf(stderr, "%s\n", msg);
    }
    if (lrc != KAD_OK) {
        rule_set_free(rs);
        return EXIT_USAGE;
    }
    const struct rule *only_rule = NULL;
    if (only && !(only_rule = rule_set_lookup(rs, only))) {
        rule_set_free(rs);
        return cmd_usage_error(&cmd_preview, "no rule '%s' in %s", only, rules);
    }

    /* the rules that run */
    KX_VEC(const struct rule *) run_rules = {0};
    for (size_t ri = 0; ri < rule_set_count(rs); ri++) {
        const struct rule *r = rule_set_get(rs, ri);
        if (only_rule && r != only_rule)
            continue;
        if (r->type != RULE_QUERY && r->type != RULE_NEW_TERMS) {
            fprintf(stderr, "kadet preview: rule '%s': type %s is not run\n",
                    r->rule_id ? r->rule_id : r->name, r->type_name);
            continue;
        }
        KX_VEC_PUSH(&run_rules, r);
    }

    /* documents */
    struct input in;
    memset(&in, 0, sizeof(in));
    kx_arena_init(&in.scratch, 1 << 16, 0);
    kx_arena_init(&in.docs_arena, 1 << 20, 0);
    kx_map_init(&in.wanted);
    in.rules = run_rules.ptr;
    in.nrules = run_rules.len;
    static char *const stdin_only[] = {"-", NULL};
    char *const *files = optind < argc ? argv + optind : stdin_only;
    in.partial = true;
    for (char *const *f = files; *f; f++)
        if (strcmp(*f, "-") == 0)
            in.partial = false; /* standard input cannot be read twice */
    struct ev_host hbuf;
    char hstore[4096];
    const struct ev_host *host = NULL;
    if (!clock.no_host) {
        ev_host_detect(&hbuf, hstore, sizeof(hstore));
        if (clock.host_name)
            hbuf.name = hbuf.hostname = clock.host_name;
        if (clock.host_os_type)
            hbuf.os_type = clock.host_os_type;
        host = &hbuf;
    }
    status = read_inputs(&in, files, host,
                         clock.timestamp == KAD_TS_REQUEST ? EV_TS_REQUEST : EV_TS_STAGE);

    /* executions, rule by rule */
    struct pv_doc *pd = kx_malloc((in.docs.len ? in.docs.len : 1) * sizeof(*pd));
    struct pv_result *res = kx_calloc(run_rules.len ? run_rules.len : 1, sizeof(*res));
    uint64_t executions = 0;
    for (size_t ri = 0; ri < run_rules.len; ri++) {
        const struct rule *r = run_rules.ptr[ri];
        for (size_t i = 0; i < in.docs.len; i++)
            pv_doc_prepare(rs, r, in.docs.ptr[i], in.ids.ptr[i], &pd[i]);
        pv_result_init(&res[ri]);
        kad_err err;
        kad_err_clear(&err);
        struct pv_opts ro = po;
        if (auto_end && !auto_ticks(r, pd, in.docs.len, &ro)) {
            fprintf(stderr, "kadet preview: rule '%s': no document in any execution\n",
                    r->rule_id ? r->rule_id : r->name);
            continue;
        }
        executions += ro.invocations;
        if (pv_run(r, pd, in.docs.len, &ro, &res[ri], &err) != KAD_OK) {
            fprintf(stderr, "kadet preview: rule '%s': %s\n", r->rule_id ? r->rule_id : r->name,
                    err.msg);
            status = EXIT_RUNTIME;
        }
        for (size_t i = 0; i < res[ri].alerts.len; i++) {
            size_t di = res[ri].alerts.ptr[i].doc;
            kx_map_put(&in.wanted, &in.where.ptr[di], sizeof(uint64_t),
                       (void *)(uintptr_t)(di + 1));
        }
    }

    /* the alerted documents in full: a second pass over the files */
    KX_VEC_GROW(&in.full, in.docs.len);
    for (size_t i = 0; i < in.docs.len; i++)
        in.full.ptr[i] = in.partial ? NULL : in.docs.ptr[i];
    in.full.len = in.docs.len;
    if (in.partial && in.wanted.len) {
        in.second = true;
        read_inputs(&in, files, host, clock.timestamp);
    }

    /* alerts and messages, rule by rule */
    kx_buf out;
    kx_buf_init(&out, 0);
    size_t exec_errors = 0, total = 0;
    for (size_t ri = 0; ri < run_rules.len; ri++) {
        const struct rule *r = run_rules.ptr[ri];
        for (size_t i = 0; i < res[ri].alerts.len; i++) {
            const struct pv_alert *a = &res[ri].alerts.ptr[i];
            struct pv_doc d;
            pv_doc_prepare(rs, r, in.full.ptr[a->doc] ? in.full.ptr[a->doc] : in.docs.ptr[a->doc],
                           in.ids.ptr[a->doc], &d);
            kx_buf_reset(&out);
            if (pv_alert_write(&out, r, &d, a) == KAD_OK) {
                fwrite(out.ptr, 1, out.len, stdout);
                fputc('\n', stdout);
            }
        }
        total += res[ri].alerts.len;
        print_msgs(r, &res[ri], &exec_errors);
        pv_result_fini(&res[ri]);
    }
    kx_free(res);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "kadet preview: write error on standard output\n");
        status = EXIT_RUNTIME;
    }
    fprintf(
        stderr,
        "kadet preview: %llu document%s (%zu matching a query), %llu execution%s, %zu alert%s\n",
        (unsigned long long)in.seen, in.seen == 1 ? "" : "s", in.docs.len,
        (unsigned long long)executions, executions == 1 ? "" : "s", total, total == 1 ? "" : "s");
    if (in.bad) {
        fprintf(stderr, "kadet preview: %llu record%s skipped\n", (unsigned long long)in.bad,
                in.bad == 1 ? "" : "s");
        status = EXIT_RUNTIME;
    }
    if (exec_errors)
        status = EXIT_RUNTIME;
    kx_buf_fini(&out);
    kx_free(pd);
    KX_VEC_FREE(&in.docs);
    KX_VEC_FREE(&in.ids);
    KX_VEC_FREE(&in.where);
    KX_VEC_FREE(&in.full);
    kx_map_fini(&in.wanted);
    kx_arena_fini(&in.docs_arena);
    kx_arena_fini(&in.scratch);
    KX_VEC_FREE(&run_rules);
    ev_decoder_free(in.dec);
    ev_decoder_free(in.dec2);
    rule_set_free(rs);
    return status;
}

const struct cmd cmd_preview = {
    .name = "preview",
    .summary = "replay Elastic's scheduled rule executions over documents (rule preview)",
    .usage =
        "usage: kadet preview --rules PATH [--end TIME|auto] [--invocations N] [--interval DUR]\n"
        "                     [--schedule DUR]\n"
        "                     [--exceptions FILE]... [--rule ID] [--no-host-metadata]\n"
        "                     [--host-name NAME] [--host-os-type TYPE]\n"
        "                     [--timestamp stage|request] [FILE...|-]\n"
        "\n"
        "Run the query and new_terms rules of PATH (a .toml file or a directory) as Elastic's\n"
        "scheduler would: N executions at END - (N-1)*INTERVAL, ..., END, each over the rule's\n"
        "own look-back (`from`) and, for new_terms, its history window. Alerts are written to\n"
        "standard output as NDJSON, in the format of `kadet scan`, with @timestamp = the\n"
        "execution time; Elastic's warnings go to standard error. Input: raw Kubernetes audit\n"
        "events or ECS documents, as `kadet scan` reads them (standard input when no FILE).\n"
        "\n"
        "  -r, --rules PATH    rule file or directory (required)\n"
        "  --end TIME          time of the last execution, RFC 3339 or 'now'; 'auto' (the\n"
        "                      default): every execution over the documents' event times,\n"
        "                      ticks aligned to the interval, per rule\n"
        "  --invocations N     number of executions (default 1; needs --end TIME)\n"
        "  --interval DUR      time between executions, e.g. 5m (default: each rule's interval)\n"
        "  --schedule DUR      same as --interval DUR --end auto\n"
        "  --exceptions FILE   exception lists to apply (repeatable)\n"
        "  --rule ID           run only this rule (rule_id or name)\n"
        "  --no-host-metadata  do not add this machine's host.* fields to raw audit events\n"
        "                      (added by default, as Elastic Agent and `kadet scan` do;\n"
        "                      --host-metadata is accepted)\n"
        "  --host-name NAME    host.name and host.hostname of raw audit events\n"
        "  --host-os-type TYPE host.os.type of raw audit events (default: from uname)\n"
        "  --timestamp SRC     @timestamp of raw audit events: stage (stageTimestamp, the\n"
        "                      default) or request (requestReceivedTimestamp)\n"
        "\n"
        "Exit status: 0 success, 1 usage or rule errors, 2 unreadable or skipped input or a\n"
        "failed execution. See docs/preview.md.\n",
    .run = run,
};
