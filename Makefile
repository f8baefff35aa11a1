# Developer shortcuts; CI runs .ci/run.

FUZZTIME ?= 30s
# Minimizing each new input that widens coverage would take most of the
# time of targets that run a whole job per input; a crash is still saved.
FUZZMINIMIZETIME ?= 0s

# pkg:target pairs of every fuzz target. Their seed corpora run as ordinary
# tests in `go test ./...`; this runs the fuzzer on each for FUZZTIME.
FUZZ_TARGETS = \
	./internal/codec:FuzzDecode \
	./shuffle:FuzzFetch \
	./shuffle:FuzzParseTicket \
	./storage:FuzzParseRDDBlock \
	./scheduler:FuzzParseMaster \
	./rdd:FuzzWithConf \
	./rdd:FuzzArrowFile \
	./rdd:FuzzParquetFile \
	./internal/bytesize:FuzzParse \
	./executor:FuzzProgramPath \
	./executor:FuzzDriverMessage

.PHONY: test fuzz
test:
	go test -race ./...

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$pkg $$name ($(FUZZTIME))"; \
		go test -run XXX -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg || exit 1; \
	done
