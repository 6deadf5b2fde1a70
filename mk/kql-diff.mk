# mk/kql-diff.mk - differential test of the KQL parser against a naive transliteration of
# Kibana's grammar (tools/kql_ref.py): same accept/reject, same canonical tree, same error
# position and expected list, on random queries.
#
#   make kql-diff                 30 000 queries (KQL_DIFF_N=..., KQL_DIFF_SEED=...)
# Needs python3. Not part of `make check` (it takes about a minute).

KQL_DIFF_N ?= 30000
KQL_DIFF_SEED ?= 1

.PHONY: kql-diff

build/kql-batch: tools/kql-batch.c libkad.a $(HDRS)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(REL_CFLAGS) -o $@ tools/kql-batch.c libkad.a $(LIBS)

kql-diff: deps build/kql-batch
	@mkdir -p build/kql-diff
	python3 tools/kql_gen.py $(KQL_DIFF_SEED) $(KQL_DIFF_N) > build/kql-diff/queries.txt
	python3 tools/kql_ref.py < build/kql-diff/queries.txt > build/kql-diff/ref.txt
	./build/kql-batch < build/kql-diff/queries.txt > build/kql-diff/kadet.txt
	@paste -d'\n' build/kql-diff/queries.txt build/kql-diff/ref.txt build/kql-diff/kadet.txt | \
	  awk 'NR%3==1{q=$$0} NR%3==2{r=$$0} NR%3==0{ok+=(r ~ /^OK/); if (r!=$$0) {n++; if (n<=10) print "query: " q "\n  reference: " r "\n  kadet:     " $$0}} \
	       END{printf "kql-diff: %d queries (%d valid), %d differences\n", NR/3, ok, n; exit n>0}'

# make kql-eval-diff: evaluation against tools/kql_eval_ref.py, a reference evaluator written
# from the spec's section 5 alone: random queries x random documents through `kadet hunt`
# (--format ecs, then auto: ECS detection and the field extractor); every verdict must agree.
#   make kql-eval-diff            2 x 1000 queries x 40 documents (KQL_EVAL_N=..., KQL_DIFF_SEED=...)
KQL_EVAL_N ?= 1000

.PHONY: kql-eval-diff
kql-eval-diff: deps kadet
	python3 tools/kql_eval_ref.py $(KQL_DIFF_SEED) $(KQL_EVAL_N) 40 ./kadet ecs
	python3 tools/kql_eval_ref.py $(KQL_DIFF_SEED) $(KQL_EVAL_N) 40 ./kadet auto
