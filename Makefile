# Developer shortcuts; CI runs .ci/run.

FUZZTIME ?= 30s

# pkg:target pairs of every fuzz target. Their seed corpora run as ordinary
# tests in `go test ./...`; this runs the fuzzer on each for FUZZTIME.
FUZZ_TARGETS = \
	./internal/codec:FuzzDecode \
	./shuffle:FuzzFetch \
	./shuffle:FuzzParseTicket \
	./storage:FuzzParseRDDBlock \
	./scheduler:FuzzParseMaster \
	./rdd:FuzzWithConf \
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
		go test -run XXX -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done
