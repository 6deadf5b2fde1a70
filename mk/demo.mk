# make demo: the main job on a bundled sample. Replaced by the engine work (issue 6).
demo: deps kadet
	@echo "kadet demo: not yet available: the detection engine (kadet scan) has not landed yet."
	@echo "What works today: ./kadet --help"
	@./kadet --help
