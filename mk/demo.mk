# make demo: kadet's main job on a generated sample (scripts/demo.sh): generate a few days of
# audit logs with tools/kadet-gen.c, learn the first days, scan the last one with the founding
# rule (rules/) and print the alerts as a table. Works on a fresh machine: only the repository.
demo: deps kadet build/kadet-gen
	@bash scripts/demo.sh
