/*
 * cmd_serve.c - `kadet serve`: the always-on detection service. The service itself is in
 * serve/ (serve/serve.h, docs/internals/serve.md); this file registers the subcommand and
 * hands it the bundled rules' directory.
 */
#include "cmd.h"
#include "rulesdir.h"
#include "serve.h"

#include <stdio.h>

extern const struct cmd cmd_serve;

static int run_serve(int argc, char **argv) { return serve_main(argc, argv, cli_rules_dir()); }

const struct cmd cmd_serve = {
    .name = "serve",
    .summary = "run the detection service (HTTPS audit webhook, spool, metrics, reload)",
    .usage = srv_usage,
    .run = run_serve,
};
