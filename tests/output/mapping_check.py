#!/usr/bin/env python3
"""mapping_check.py - the index template and ingest pipeline of docs/alerts.md against alerts.

    mapping_check.py DOCS_ALERTS_MD ALERT_FILE...

No Elasticsearch runs in kadet's tests, so this applies Elasticsearch's documented mapping
rules to kadet's own alerts instead:

- both JSON bodies in docs/alerts.md (`PUT _ingest/pipeline/kadet-alerts`, `PUT
  _index_template/kadet-alerts`) parse, and the template has the documented shape
  (index_patterns, data_stream, priority above the built-in `logs` template's 100, settings,
  mappings with dynamic_templates of one named rule each and properties with a type);
- every field of every alert (ALERT_FILE: lines that are alert documents; a golden file's
  `<host>` placeholder is read as an object) resolves: explicit mapping (dotted names in the
  mapping and in the document are expanded into objects, as Elasticsearch does), else the first
  dynamic template whose path_match and match_mapping_type match, else Elasticsearch's default
  dynamic mapping (long, float, boolean, object; strings that parse as dates with date
  detection on); a `flattened` field takes its whole subtree;
- each value fits its field's type (a date field gets a date string or a number, a long an
  integer, a float a number, keyword/text a scalar, an object field an object) and no field
  changes kind between alerts (object vs. value, number vs. a non-numeric string after a number
  was mapped, a detected date then a non-date string);
- the mapped field count stays under index.mapping.total_fields.limit.

The pipeline's effect (event.kind, event.module, event.ingested, message, event.severity,
event.risk_score) is applied to each alert before the check. Prints a summary; exit 1 with the
first problems otherwise.
"""
import fnmatch, json, re, sys

DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}(:\d{2}(:\d{2}([.,]\d{1,9})?)?)?"
                  r"(Z|[+-]\d{2}(:?\d{2})?)?)?)?)?$|^\d{4}/\d{2}/\d{2}( \d{2}:\d{2}:\d{2})?( [+-]\d{4})?$")
problems = []


def bad(msg):
    if len(problems) < 20:
        problems.append(msg)


def json_block(md, marker):
    """The JSON body of the console request whose first line is `marker`."""
    i = md.find("\n" + marker + "\n")
    if i < 0:
        sys.exit("FAIL: docs: no '%s' block" % marker)
    body = md[i + len(marker) + 2:md.index("\n```", i)]
    try:
        return json.loads(body)
    except ValueError as e:
        sys.exit("FAIL: docs: the body of '%s' is not JSON: %s" % (marker, e))


def expand(props, into, where):
    """Mapping properties with dotted names -> nested dict of {name: mapping}."""
    for name, m in props.items():
        if not isinstance(m, dict):
            bad("%s%s: a mapping must be an object" % (where, name))
            continue
        parts = name.split(".")
        node = into
        for p in parts[:-1]:
            node = node.setdefault(p, {"properties": {}})
            node = node.setdefault("properties", {})
        leaf = node.setdefault(parts[-1], {})
        if "properties" in m:
            leaf.setdefault("properties", {})
            expand(m["properties"], leaf["properties"], where + name + ".")
        for k, v in m.items():
            if k != "properties":
                leaf[k] = v
        if "properties" not in leaf and "type" not in leaf:
            bad("%s%s: no type" % (where, name))


KNOWN = {"keyword", "match_only_text", "text", "date", "long", "float", "double", "boolean",
         "flattened", "object", "ip", "integer", "scaled_float", "wildcard", "constant_keyword"}


def check_template(t):
    for k in ("index_patterns", "template", "priority"):
        if k not in t:
            bad("template: no '%s'" % k)
    pats = t.get("index_patterns", [])
    if not isinstance(pats, list) or not pats or any(
            not isinstance(p, str) or p != p.lower() or p[:1] in "-_+" or
            re.search(r'[\\/?"<>| ,#]', p) for p in pats):
        bad("template: index_patterns must be lowercase index patterns: %r" % (pats,))
    if not isinstance(t.get("priority"), int) or t["priority"] <= 100:
        bad("template: priority must be an integer above 100 (the built-in logs template)")
    if "data_stream" in t and t["data_stream"] != {}:
        bad("template: data_stream must be {}")
    tm = t.get("template", {})
    st = tm.get("settings", {})
    limit = st.get("index.mapping.total_fields.limit", 1000)
    if not isinstance(limit, int):
        bad("template: total_fields.limit must be an integer")
    mp = tm.get("mappings", {})
    dts = []
    for d in mp.get("dynamic_templates", []):
        if not isinstance(d, dict) or len(d) != 1:
            bad("dynamic_templates: each entry is an object with one named rule: %r" % (d,))
            continue
        name, rule = next(iter(d.items()))
        if "mapping" not in rule or rule["mapping"].get("type") not in KNOWN:
            bad("dynamic template %s: a mapping with a known type is required" % name)
        mmt = rule.get("match_mapping_type", "*")
        if mmt not in ("*", "string", "long", "double", "boolean", "date", "object"):
            bad("dynamic template %s: match_mapping_type %r" % (name, mmt))
        dts.append((name, rule.get("path_match", "*"), mmt, rule["mapping"]["type"]))
    tree = {}
    expand(mp.get("properties", {}), tree, "")

    def types(node, path):
        for name, m in node.items():
            if "type" in m and m["type"] not in KNOWN:
                bad("%s%s: unknown type %s" % (path, name, m["type"]))
            types(m.get("properties", {}), path + name + ".")
    types(tree, "")
    return tree, dts, limit, mp.get("date_detection", True)


def pipeline(doc):
    """What the documented ingest pipeline adds (the check does not run painless)."""
    doc = dict(doc)
    ev = dict(doc.get("event") or {})
    ev.pop("kind", None)
    doc.pop("event.kind", None)
    ev.update(kind="alert", module="kadet", ingested="2026-01-01T00:00:00.000Z")
    if doc.get("kibana.alert.rule.name"):
        doc["message"] = doc["kibana.alert.rule.name"]
    sev = {"low": 21, "medium": 47, "high": 73, "critical": 99}.get(doc.get("kibana.alert.severity"))
    if sev is not None:
        ev["severity"] = sev
        ev["risk_score"] = doc.get("kibana.alert.risk_score")
    doc["event"] = ev
    return doc


def jtype(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "long"
    if isinstance(v, float):
        return "double"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "object"
    return None  # null


seen = {}  # path -> (how, type) as first mapped (dynamic mapping is fixed by the first value)
stats = {"explicit": set(), "template": set(), "default": set(), "flattened": set()}


def fits(t, v, path, where):
    if v is None:
        return
    if t == "date":
        ok = (isinstance(v, str) and DATE.match(v)) or (isinstance(v, int) and not isinstance(v, bool))
    elif t in ("long", "integer"):
        ok = (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and re.match(r"^-?\d+$", v))
    elif t in ("float", "double", "scaled_float"):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) or (
            isinstance(v, str) and re.match(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$", v))
    elif t == "boolean":
        ok = isinstance(v, bool) or v in ("true", "false", "")
    elif t == "object":
        ok = isinstance(v, dict)
    elif t == "flattened":
        ok = True
    else:  # keyword, text: any scalar
        ok = not isinstance(v, dict)
    if not ok:
        bad("%s: %s is mapped as %s but has %s" % (where, path, t, json.dumps(v)[:80]))


def walk(node, value, path, tree, dts, date_det, where):
    """value at dotted path; node = the explicit mapping there (or None)."""
    if isinstance(value, list):
        for x in value:
            walk(node, x, path, tree, dts, date_det, where)
        return
    if node is not None and "properties" not in node and node.get("type") not in (None, "object"):
        t = node["type"]
        stats["flattened" if t == "flattened" else "explicit"].add(path)
        fits(t, value, path, where)
        return
    if isinstance(value, dict):
        prev = seen.get(path)
        if prev and prev[1] != "object":
            bad("%s: %s is an object here, mapped as %s by an earlier alert" % (where, path, prev[1]))
        seen.setdefault(path, ("object", "object"))
        props = node.get("properties", {}) if node else {}
        for k, v in value.items():
            walk(props.get(k), v, path_join(path, k), tree, dts, date_det, where)
        return
    if value is None:
        return
    if node is not None:  # an explicit object field given a value
        bad("%s: %s is mapped as an object but has %s" % (where, path, json.dumps(value)[:80]))
        return
    mt = jtype(value)
    if mt == "string" and date_det and DATE.match(value):
        mt = "date"
    prev = seen.get(path)
    if prev is None:
        for name, pm, mmt, typ in dts:
            if fnmatch.fnmatchcase(path, pm) and mmt in ("*", mt):
                seen[path] = ("template " + name, typ)
                stats["template"].add(path)
                break
        else:
            typ = {"string": "text", "long": "long", "double": "float", "boolean": "boolean", "date": "date"}[mt]
            seen[path] = ("default", typ)
            stats["default"].add(path)
        prev = seen[path]
    if prev[1] == "object":
        bad("%s: %s has a value, mapped as an object by an earlier alert" % (where, path))
        return
    fits(prev[1], value, path, where + " (%s mapping)" % prev[0])


def dots(v, where):
    """Dotted keys expanded into objects, as Elasticsearch reads a document."""
    if isinstance(v, list):
        return [dots(x, where) for x in v]
    if not isinstance(v, dict):
        return v
    out = {}
    for k, x in v.items():
        parts = k.split(".")
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                bad("%s: %s is a value and an object in one alert" % (where, k))
                return out
        x = dots(x, where)
        last = parts[-1]
        if isinstance(node.get(last), dict) and isinstance(x, dict):
            merge(node[last], x, where, k)
        elif last in node:
            bad("%s: %s twice in one alert" % (where, k))
        else:
            node[last] = x
    return out


def merge(a, b, where, k):
    for key, x in b.items():
        if isinstance(a.get(key), dict) and isinstance(x, dict):
            merge(a[key], x, where, k + "." + key)
        elif key in a:
            bad("%s: %s.%s twice in one alert" % (where, k, key))
        else:
            a[key] = x


def path_join(a, b):
    return a + "." + b if a else b


def main():
    md = open(sys.argv[1]).read()
    pl = json_block(md, "PUT _ingest/pipeline/kadet-alerts")
    if not isinstance(pl.get("processors"), list) or not pl["processors"]:
        bad("pipeline: no processors")
    for p in pl.get("processors", []):
        if not isinstance(p, dict) or len(p) != 1:
            bad("pipeline: each processor is an object with one key: %r" % (p,))
    tree, dts, limit, date_det = check_template(json_block(md, "PUT _index_template/kadet-alerts"))
    n = 0
    for f in sys.argv[2:]:
        for ln, line in enumerate(open(f), 1):
            if not line.startswith("{") or "kibana.alert.uuid" not in line:
                continue
            try:
                doc = json.loads(line.replace(":<host>", ":{}"))
            except ValueError as e:
                bad("%s:%d: not JSON: %s" % (f, ln, e))
                continue
            n += 1
            where = "%s:%d" % (f, ln)
            walk({"properties": tree}, dots(pipeline(doc), where), "", tree, dts, date_det, where)
    if not n:
        bad("no alerts read")
    fields = len(seen) + len(stats["explicit"]) + len(stats["flattened"])
    if fields > limit:
        bad("%d fields, over index.mapping.total_fields.limit %d" % (fields, limit))
    if problems:
        print("FAIL: mapping check:\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print("%d alerts, %d fields: %d explicit, %d flattened, %d by a dynamic template, %d by "
          "Elasticsearch's default dynamic mapping (numbers, booleans, dates)" % (
              n, fields, len(stats["explicit"]), len(stats["flattened"]), len(stats["template"]),
              len(stats["default"])))
    for p in sorted(stats["default"]):
        if seen[p][1] == "text":
            print("note: %s: a string no dynamic template matches (text)" % p)


main()
