/*
 * ref_simdjson.cpp - the reference extractor of `make bench`: the practical limit of JSON
 * parsing on one core, built on Debian's libsimdjson-dev (On-Demand API).
 *
 * It reads raw audit.k8s.io/v1 Event NDJSON (a file, or stdin with "-") in large chunks, and for
 * every record pulls the fields the seed rule needs and evaluates the seed rule's query:
 *
 *   host.os.type:"linux" and event.dataset:"kubernetes.audit_logs"     (constants for a raw log)
 *   and kubernetes.audit.stage:"ResponseComplete"                      (raw .stage)
 *   and user_agent.original:*                                          (raw .userAgent present)
 *
 * For matching records with a complete new-terms tuple (decision annotation, user.username,
 * userAgent, all strings) it hashes the tuple into a set, so that it also reports the number of
 * distinct combinations (a cross-check against jq and kadet). It prints one summary line:
 *   events=N matched=N tuples=N distinct=N errors=N
 *
 * What it does not do: KQL, ECS mapping beyond these four fields, alerts, state on disk, time
 * windows. It is a yardstick for the benchmark, not part of kadet; it is built only by
 * `make bench` and not installed. The summary goes to stdout.
 *
 * Modes: "stream" (default) hands each chunk to iterate_many (1 MB batches); "--lines" frames
 * lines with memchr and parses each with iterate. On generated logs both run at about the same
 * speed; stream also accepts several documents on one line, like jq. Records over 1 MB are
 * counted as errors.
 */
#include <simdjson.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

using namespace simdjson;

namespace
{

constexpr size_t CHUNK = 8u << 20;      /* bytes read per refill */
constexpr size_t MAX_RECORD = 1u << 20; /* longest record accepted */
/* iterate_many batch: must exceed the longest record; 1 MB measured best (8 MB: 5x slower) */
constexpr size_t BATCH = MAX_RECORD;

struct counts {
    uint64_t events = 0, matched = 0, tuples = 0, errors = 0;
    std::unordered_set<uint64_t> distinct;
};

/* FNV-1a over the three components with a separator: collisions only matter for a cross-check. */
uint64_t hash_tuple(std::string_view a, std::string_view b, std::string_view c)
{
    uint64_t h = 1469598103934665603ull;
    for (std::string_view s : {a, b, c}) {
        for (unsigned char ch : s) {
            h ^= ch;
            h *= 1099511628211ull;
        }
        h ^= 0xff;
        h *= 1099511628211ull;
    }
    return h;
}

/* value[name] as a string, when value is an object holding a string member `name`. */
bool string_member(simdjson_result<ondemand::value> value, const char *name, std::string_view &out)
{
    ondemand::object o;
    if (value.get_object().get(o))
        return false;
    for (auto f : o) {
        ondemand::raw_json_string k;
        if (!f.key().get(k) && k.is_equal(name))
            return !f.value().get_string().get(out);
    }
    return false;
}

/* One record: walk the top-level object once, in document order, skipping unneeded values. */
template <typename Doc> void eval_record(Doc &doc, counts &c)
{
    c.events++;
    bool stage_ok = false, has_ua = false, has_dec = false, has_user = false;
    std::string_view ua, user, dec;
    ondemand::object obj;
    if (doc.get_object().get(obj)) {
        c.errors++;
        return;
    }
    for (auto field : obj) {
        ondemand::raw_json_string key;
        if (field.key().get(key)) {
            c.errors++;
            return;
        }
        if (key.is_equal("stage")) {
            std::string_view v;
            stage_ok = !field.value().get_string().get(v) && v == "ResponseComplete";
        } else if (key.is_equal("userAgent")) {
            /* user_agent.original:* -- exists: any non-null value counts, "" included */
            ondemand::value v;
            ondemand::json_type t;
            if (!field.value().get(v) && !v.type().get(t) && t != ondemand::json_type::null) {
                has_ua = true;
                if (t == ondemand::json_type::string)
                    if (v.get_string().get(ua) != SUCCESS)
                        ua = std::string_view();
            }
        } else if (key.is_equal("user")) {
            has_user = string_member(field.value(), "username", user);
        } else if (key.is_equal("annotations")) {
            has_dec = string_member(field.value(), "authorization.k8s.io/decision", dec);
        }
    }
    if (!(stage_ok && has_ua))
        return;
    c.matched++;
    if (has_dec && has_user && ua.data() != nullptr) {
        c.tuples++;
        c.distinct.insert(hash_tuple(dec, user, ua));
    }
}

void run_stream(ondemand::parser &parser, const char *buf, size_t len, counts &c)
{
    ondemand::document_stream stream;
    if (parser.iterate_many(buf, len, BATCH).get(stream)) {
        c.errors++;
        return;
    }
    for (auto doc : stream) {
        ondemand::document_reference d;
        if (std::move(doc).get(d)) {
            c.errors++;
            continue;
        }
        eval_record(d, c);
    }
}

void run_lines(ondemand::parser &parser, const char *buf, size_t len, counts &c)
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = static_cast<const char *>(memchr(p, '\n', end - p));
        size_t n = nl ? size_t(nl - p) : size_t(end - p);
        if (n > 0) {
            /* the chunk buffer holds SIMDJSON_PADDING spare bytes after `end` */
            ondemand::document doc;
            if (parser.iterate(p, n, size_t(end - p) + SIMDJSON_PADDING).get(doc))
                c.errors++;
            else
                eval_record(doc, c);
        }
        p += n + 1;
    }
}

} // namespace

int main(int argc, char **argv)
{
    const char *path = nullptr;
    bool lines = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--lines"))
            lines = true;
        else if (!strcmp(argv[i], "--stream"))
            lines = false;
        else
            path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: ref_simdjson [--stream|--lines] FILE|-\n");
        return 1;
    }
    int fd = strcmp(path, "-") ? open(path, O_RDONLY) : 0;
    if (fd < 0) {
        fprintf(stderr, "ref_simdjson: %s: %s\n", path, strerror(errno));
        return 2;
    }
    std::vector<char> buf(CHUNK + MAX_RECORD + SIMDJSON_PADDING);
    ondemand::parser parser(MAX_RECORD + CHUNK);
    counts c;
    size_t have = 0;
    bool eof = false;
    while (!eof || have > 0) {
        while (!eof && have < CHUNK) {
            ssize_t r = read(fd, buf.data() + have, CHUNK + MAX_RECORD - have);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                fprintf(stderr, "ref_simdjson: read: %s\n", strerror(errno));
                return 2;
            }
            if (r == 0)
                eof = true;
            have += size_t(r);
        }
        /* parse up to the last newline; keep the partial record for the next round */
        size_t upto = have;
        if (!eof) {
            const char *last = static_cast<const char *>(memrchr(buf.data(), '\n', have));
            if (!last) {
                fprintf(stderr, "ref_simdjson: record longer than %zu bytes\n", MAX_RECORD);
                return 2;
            }
            upto = size_t(last - buf.data()) + 1;
        }
        if (lines)
            run_lines(parser, buf.data(), upto, c);
        else
            run_stream(parser, buf.data(), upto, c);
        memmove(buf.data(), buf.data() + upto, have - upto);
        have -= upto;
    }
    printf("events=%llu matched=%llu tuples=%llu distinct=%zu errors=%llu\n",
           (unsigned long long)c.events, (unsigned long long)c.matched,
           (unsigned long long)c.tuples, c.distinct.size(), (unsigned long long)c.errors);
    return c.errors ? 2 : 0;
}
