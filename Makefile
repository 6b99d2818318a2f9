# Marketing backend: lighttpd + libfcgi responders + Postgres.
# `make run` starts everything locally; `make test` runs every test; `make check` lints.

CC      ?= cc
SANITIZE ?=
V ?= 0

SRC_DIR   := fcgi-app/src
BUILD_DIR := fcgi-app/build$(if $(SANITIZE),-san)
BIN       := $(BUILD_DIR)/backend

# Compiler and linker flags of the libraries come from pkg-config only, computed once on first use
# (not at parse time, so `make deps` works on a machine without them). $(BUILD_DIR)/.build-deps
# fails loudly when a library is missing, before anything is compiled.
PKGS       := libpq jansson libsodium libcurl
PKG_CFLAGS  = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $(PKGS)))$(PKG_CFLAGS)
PKG_LIBS    = $(eval PKG_LIBS := $$(shell pkg-config --libs $(PKGS)))$(PKG_LIBS)
# libfcgi ships no pkg-config file on Debian (libfcgi-dev): its flags are named here, and
# .build-deps compiles and links a one-line program against them so a missing libfcgi stops the
# build with this name. Only cmd/serve.c uses it.
FCGI_CFLAGS :=
FCGI_LIBS   := -lfcgi

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wcast-qual -Wformat=2 -Wvla -Wundef -Wwrite-strings \
        -Wnull-dereference -Wimplicit-fallthrough
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -O2 -g -fno-common -fstack-protector-strong \
              -D_FORTIFY_SOURCE=2 -MMD -MP $(WARN) -I$(SRC_DIR) $(PKG_CFLAGS) $(FCGI_CFLAGS)
ifneq ($(SANITIZE),)
CFLAGS_BASE := $(filter-out -O2 -D_FORTIFY_SOURCE=2,$(CFLAGS_BASE)) -O1 \
               -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif
CFLAGS += $(CFLAGS_BASE)

# ---- layers (DESIGN.md, infra/scripts/check-layers.py enforces the includes): each is a static
# library of its directory's modules; cmd/ (main, the serve loop) is the binary itself.
LAYERS := core store domain http jobs api
SRCS := $(foreach l,$(LAYERS) cmd,$(wildcard $(SRC_DIR)/$(l)/*.c))
OBJS := $(patsubst $(SRC_DIR)/%.c,$(BUILD_DIR)/%.o,$(SRCS))
layer_lib = $(BUILD_DIR)/lib$(1).a
$(foreach l,$(LAYERS),$(eval $(call layer_lib,$(l)): \
    $(patsubst $(SRC_DIR)/%.c,$(BUILD_DIR)/%.o,$(wildcard $(SRC_DIR)/$(l)/*.c))))
CMD_OBJS := $(patsubst $(SRC_DIR)/%.c,$(BUILD_DIR)/%.o,$(wildcard $(SRC_DIR)/cmd/*.c))
ALL_LIBS := $(foreach l,$(LAYERS),$(call layer_lib,$(l)))

ifeq ($(V),0)
Q := @
else
Q :=
endif

.PHONY: all build deps run stop migrate check-config test test-unit test-integration test-faults test-smoke \
        db-dump db-restore tracker \
        test-browser bench bench-pooler bench-scale bench-purge test-asan test-valgrind check format clean image-test \
        rollups-run rollups-backfill \
        rollups-status rollups-discrepancy retention-purge test-fly fly-vars fly-launch fly-pg-attach \
        fly-mpg-attach fly-secrets fly-deploy fly-deploy-only fly-migrate fly-logs fly-ssh fly-status \
        fly-checks fuzz-replay fuzz

all: build
build: $(BIN)

# The group lets http/router.o find the route table of api/routes.o (the one reference upward).
$(BIN): $(CMD_OBJS) $(ALL_LIBS)
	@echo "  LINK $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CMD_OBJS) -Wl,--start-group $(ALL_LIBS) -Wl,--end-group $(PKG_LIBS) \
	    $(FCGI_LIBS) -lm

$(BUILD_DIR)/lib%.a:
	@echo "  AR   $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD_DIR)/%.o: $(SRC_DIR)/%.c | $(BUILD_DIR)/.build-deps
	@echo "  CC   $<"
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# Fails with the missing library's name; redone when the Makefile changes.
$(BUILD_DIR)/.build-deps: Makefile
	$(Q)mkdir -p $(BUILD_DIR)
	$(Q)pkg-config --print-errors --exists $(PKGS)
	$(Q)printf '#include <fcgiapp.h>\nint main(void) { return FCGX_IsCGI(); }\n' | \
	    $(CC) $(FCGI_CFLAGS) -x c -o /dev/null - $(FCGI_LIBS) 2>/dev/null || \
	    { echo "libfcgi not found with FCGI_CFLAGS='$(FCGI_CFLAGS)' FCGI_LIBS='$(FCGI_LIBS)' (Debian: libfcgi-dev; make deps)" >&2; exit 1; }
	$(Q)touch $@

-include $(OBJS:.o=.d)

# ---- version: `backend --version` prints both. From git when this is a checkout with git at hand,
# "unknown" otherwise (a tarball; the Docker build passes BACKEND_REVISION as a build arg). The
# stamp changes only when they do, and then rebuilds main.o alone.
BACKEND_REVISION ?= $(or $(shell git describe --always --dirty 2>/dev/null),unknown)
BACKEND_VERSION  ?= $(or $(shell git describe --tags --abbrev=0 2>/dev/null),unknown)
VERSION_STAMP := $(BUILD_DIR)/.version
.PHONY: version-stamp
version-stamp:
$(VERSION_STAMP): version-stamp
	$(Q)mkdir -p $(BUILD_DIR)
	$(Q)printf '%s %s\n' '$(BACKEND_VERSION)' '$(BACKEND_REVISION)' | cmp -s - $@ || \
	    printf '%s %s\n' '$(BACKEND_VERSION)' '$(BACKEND_REVISION)' > $@
$(BUILD_DIR)/cmd/main.o: $(VERSION_STAMP)
$(BUILD_DIR)/cmd/main.o: CFLAGS += -DBACKEND_VERSION='"$(BACKEND_VERSION)"' -DBACKEND_REVISION='"$(BACKEND_REVISION)"'

# ---- unit tests: one binary per tests/unit/test_*.c, linked with the layers its module needs
# (test_X_LAYERS, default core). A module that reaches a layer not listed fails to link, so this
# list is the test's real dependence.
test_arena_LAYERS    := core
test_config_LAYERS   := core
test_hash_LAYERS     := core
test_clock_LAYERS    := core
test_calendar_LAYERS := core
test_log_LAYERS      := core
test_metrics_LAYERS  := core
test_enrich_LAYERS   := domain core
test_event_LAYERS    := domain core
test_lead_LAYERS     := domain core
test_lead_query_LAYERS := domain core
test_validate_LAYERS := domain core
test_http_LAYERS     := http core
test_body_LAYERS     := http core
test_multipart_LAYERS := http core
test_cors_LAYERS     := http core
test_auth_LAYERS     := http core
test_ratelimit_LAYERS := http core
test_sql_LAYERS      := store core
test_router_LAYERS   := api jobs http domain store core
test_app_LAYERS      := api jobs http domain store core
test_webhook_LAYERS  := jobs store domain core

# The SQL function lists of core/sqlfn.h as JSON, for tests/integration/test_sqlfn.py (pg_proc).
SQLFN_DUMP := $(BUILD_DIR)/tests/sqlfn-dump
BENCH_RELAY := $(BUILD_DIR)/bench/rtt_relay
$(SQLFN_DUMP): tests/unit/sqlfn_dump.c $(call layer_lib,core)
	@mkdir -p $(dir $@)
	@echo "  LINK $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(call layer_lib,core) $(PKG_LIBS) -lm

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD_DIR)/tests/%,$(UNIT_SRCS))
test_libs = $(foreach l,$(or $($(1)_LAYERS),core),$(call layer_lib,$(l)))

.SECONDEXPANSION:
$(BUILD_DIR)/tests/%: tests/unit/%.c $$(call test_libs,$$*) tests/unit/t.h tests/unit/treq.h
	@mkdir -p $(dir $@)
	@echo "  TEST $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< -Wl,--start-group $(call test_libs,$*) -Wl,--end-group \
	    $(PKG_LIBS) -lm

# Installs the Debian packages the project needs (idempotent, quiet when present).
deps:
	@infra/scripts/install-deps.sh

test-unit: $(UNIT_BINS)
	@infra/scripts/run-unit-tests.sh $(UNIT_BINS)

test-integration: $(BIN) $(SQLFN_DUMP) $(BENCH_RELAY)
	@IT_EXCLUDE=faults BACKEND_BIN=$(abspath $(BIN)) python3 tests/integration/run.py

# The fault scenarios (tests/integration/test_faults.py): Postgres stopped, restarted, frozen,
# responders killed, graceful stop, slow clients; prints a table of them, then "N passed, N failed".
test-faults: $(BIN)
	@BACKEND_BIN=$(abspath $(BIN)) python3 tests/integration/run.py faults.

# The responder alone under cgi-fcgi, then make run/stop and the targets that find the running
# stack in a scratch copy of the tree (tests/smoke/run-all.sh).
test-smoke: $(BIN)
	@BACKEND_BIN=$(abspath $(BIN)) SANITIZE="$(SANITIZE)" tests/smoke/run-all.sh

# The site tracker: tracker/*.src.js minified (terser, pinned in tracker/package-lock.json) into
# lighttpd/www/NAME.js and NAME.js.gz, which are tracked; serving needs no build.
tracker:
	@infra/scripts/build-tracker.sh

# Debian's chromium on an allowed and a foreign site page, the tracker's test site and the dashboard
# against the real stack (npm ci first when tests/browser/package-lock.json changed; screenshots
# under tests/browser/artifacts/).
test-browser: $(BIN)
	@BACKEND_BIN=$(abspath $(BIN)) python3 tests/browser/run.py

test:
	@infra/scripts/install-deps.sh
	@$(MAKE) --no-print-directory build
	@infra/scripts/test-all.sh "$(SANITIZE)"

test-asan:
	@$(MAKE) --no-print-directory test SANITIZE=address,undefined

# Unit tests, then the cgi-fcgi smoke test with the responder itself, under valgrind.
test-valgrind: $(UNIT_BINS) $(BIN)
	@VALGRIND=1 infra/scripts/run-unit-tests.sh $(UNIT_BINS)
	@VALGRIND=1 BACKEND_BIN=$(abspath $(BIN)) tests/smoke/cgi-fcgi.sh

check:
	@infra/scripts/check.sh

format:
	@clang-format -i $(wildcard $(SRC_DIR)/*/*.[ch] tests/unit/*.[ch] tests/fuzz/*.[ch])

# Packages first: on a fresh machine the compiler's headers come from them.
run:
	@infra/scripts/install-deps.sh
	@$(MAKE) --no-print-directory build
	@BACKEND_BIN=$(abspath $(BIN)) infra/scripts/run.sh

stop:
	@infra/scripts/stop.sh

migrate: build
	@BACKEND_BIN=$(abspath $(BIN)) infra/scripts/with-env.sh $(abspath $(BIN)) migrate $(ARGS)

check-config: build
	@BACKEND_BIN=$(abspath $(BIN)) infra/scripts/with-env.sh $(abspath $(BIN)) check-config

clean:
	rm -rf fcgi-app/build fcgi-app/build-san fcgi-app/build-fuzz

# tests/bench/rtt_relay.c: the loopback relay `make bench ARGS="--rtt MS"` puts between the app and
# Postgres when the kernel has no sch_netem (BENCH_RELAY is defined above, by SQLFN_DUMP, because
# test-integration needs it for test_bench). Built with the project's flags, outside the layers.
$(BENCH_RELAY): tests/bench/rtt_relay.c
	@mkdir -p $(dir $@)
	@echo "  CC   $@"
	$(Q)$(CC) $(CFLAGS_BASE) $(LDFLAGS) -o $@ $<

# What a request costs, by process, against the database's ceiling on the current and the original
# schema, durable commits (tests/bench/bench.py says it all). Flags through ARGS or BENCH_ARGS:
# --fast, --fly, --rtt MS, --rtt-sweep, --all, --compare A.json B.json. JSON under $(BUILD_DIR)/bench/.
bench:
	@infra/scripts/install-deps.sh
	@$(MAKE) --no-print-directory build
	@$(MAKE) -s --no-print-directory $(BENCH_RELAY)
	@BACKEND_BIN=$(abspath $(BIN)) BENCH_OUT_DIR=$${BENCH_OUT_DIR:-$(abspath $(BUILD_DIR))/bench} BENCH_RELAY=$${BENCH_RELAY:-$(abspath $(BENCH_RELAY))} \
	    python3 tests/bench/bench.py $(or $(ARGS),$(BENCH_ARGS))

# The same through PgBouncer (transaction mode, as Fly Managed Postgres) and per DATABASE_STATEMENTS,
# run one after the other and compared in one table.
bench-pooler:
	@infra/scripts/install-deps.sh
	@$(MAKE) --no-print-directory build
	@$(MAKE) -s --no-print-directory $(BENCH_RELAY)
	@BENCH_VARIANTS=direct:prepared,direct:unnamed,pgbouncer:unnamed BACKEND_BIN=$(abspath $(BIN)) \
	    BENCH_OUT_DIR=$${BENCH_OUT_DIR:-$(abspath $(BUILD_DIR))/bench} BENCH_RELAY=$${BENCH_RELAY:-$(abspath $(BENCH_RELAY))} \
	    python3 tests/bench/bench.py $(or $(ARGS),$(BENCH_ARGS))

# One app stack against two at once (two Fly machines) through one PgBouncer, durable commits; then
# with each stack's responders capped by a cgroup. Writes $(BUILD_DIR)/bench/scale.json.
bench-scale:
	@infra/scripts/install-deps.sh
	@$(MAKE) --no-print-directory build
	@BACKEND_BIN=$(abspath $(BIN)) python3 tests/bench/scale_out.py

# Events partitioned by month (migrations/0017): a month's purge by partition drop against the row-wise
# delete, and ingest_event() throughput before/after, with durable commits (docs/partitioning.md).
bench-purge:
	@infra/scripts/install-deps.sh
	@$(MAKE) --no-print-directory build
	@BACKEND_BIN=$(abspath $(BIN)) python3 tests/bench/purge_bench.py

# Jobs against the local or configured database (ARGS passes flags, e.g. ARGS="--from=2026-01-01").
rollups-run: build
	@infra/scripts/with-env.sh $(abspath $(BIN)) rollups run
rollups-backfill: build
	@infra/scripts/with-env.sh $(abspath $(BIN)) rollups backfill $(ARGS)
rollups-status: build
	@infra/scripts/with-env.sh $(abspath $(BIN)) rollups status $(ARGS)
rollups-discrepancy: build
	@infra/scripts/with-env.sh $(abspath $(BIN)) rollups discrepancy $(ARGS)
retention-purge: build
	@infra/scripts/with-env.sh $(abspath $(BIN)) retention purge

# ---- backups (infra/fly/README.md "Backups"): pg_dump / pg_restore of DIRECT_DATABASE_URL, else
# DATABASE_URL, else the local cluster. db-dump [DUMP=path] writes a 0600 custom-format dump (default
# .local/backups/<UTC time>.dump); db-restore DUMP=path restores it in one transaction and needs
# CONFIRM=1 when the target database already has tables.
db-dump:
	@infra/scripts/db-backup.sh dump $(if $(DUMP),"$(DUMP)")
db-restore:
	@CONFIRM="$(CONFIRM)" infra/scripts/db-backup.sh restore "$(DUMP)"

# ---- Fly.io (infra/fly/README.md). FLY is the flyctl binary. App names are global, so neither the
# app nor the region is in fly.toml: FLY_APP (required) and FLY_REGION go on every command line.
# FLY_PG_APP names a legacy Fly Postgres app, FLY_MPG_CLUSTER a Managed Postgres cluster id.
FLY ?= fly
FLY_CONFIG := infra/fly/fly.toml
FLY_APP ?=
FLY_REGION ?= yyz
FLY_ENV_FILE ?= .env.production
# fly-deploy's probes: the deployed URL, how often and how far apart.
FLY_URL ?= https://$(FLY_APP).fly.dev
FLY_PROBE_TRIES ?= 10
FLY_PROBE_DELAY ?= 3
FLY_ARGS = --config $(FLY_CONFIG) --app $(FLY_APP)

# Every fly-* target first: a missing or placeholder app name would act on whatever app fly picks.
fly-vars:
	@printf '%s' '$(FLY_APP)' | grep -Eqx '[a-z0-9][a-z0-9-]{0,62}' || { \
	  echo "fly: set FLY_APP=<your Fly app name> (lower-case letters, digits, -); got '$(FLY_APP)'" >&2; exit 1; }
	@printf '%s' '$(FLY_REGION)' | grep -Eqx '[a-z]{3}' || { \
	  echo "fly: FLY_REGION must be a Fly region code such as yyz; got '$(FLY_REGION)'" >&2; exit 1; }
fly-launch: fly-vars
	$(FLY) launch --config $(FLY_CONFIG) --name $(FLY_APP) --region $(FLY_REGION) --copy-config --no-deploy
# Legacy Fly Postgres (an app) and Managed Postgres (a cluster id): each sets the DATABASE_URL secret.
fly-pg-attach: fly-vars
	@test -n "$(FLY_PG_APP)" || { echo "fly-pg-attach: set FLY_PG_APP=<your Fly Postgres app>" >&2; exit 1; }
	$(FLY) postgres attach $(FLY_PG_APP) $(FLY_ARGS)
fly-mpg-attach: fly-vars
	@test -n "$(FLY_MPG_CLUSTER)" || { echo "fly-mpg-attach: set FLY_MPG_CLUSTER=<cluster id from fly mpg list>" >&2; exit 1; }
	$(FLY) mpg attach $(FLY_MPG_CLUSTER) $(FLY_ARGS)
# Checked first, DATABASE_URL/DIRECT_DATABASE_URL left to the attach unless FLY_SECRETS_INCLUDE_DB=1;
# staged: they take effect with the next deploy.
fly-secrets: fly-vars
	@FLY_SECRETS_INCLUDE_DB=$(FLY_SECRETS_INCLUDE_DB) infra/scripts/fly-secrets.sh $(FLY_ENV_FILE) \
	  $(FLY) secrets import --stage $(FLY_ARGS)
# No lint toolchain needed to deploy. Fly's view of the checks is shown; the probes decide.
fly-deploy: fly-vars
	$(FLY) deploy $(FLY_ARGS) --primary-region $(FLY_REGION)
	$(FLY) checks list $(FLY_ARGS)
	@FLY_PROBE_TRIES=$(FLY_PROBE_TRIES) FLY_PROBE_DELAY=$(FLY_PROBE_DELAY) infra/scripts/fly-probe.sh $(FLY_URL)
fly-deploy-only: fly-vars
	$(FLY) deploy $(FLY_ARGS) --primary-region $(FLY_REGION)
# A fresh machine from the current release image, destroyed afterwards: works with every app machine
# stopped, and the exit status is the migration's.
fly-migrate: fly-vars
	$(FLY) console $(FLY_ARGS) --command "/app/entrypoint.sh migrate"
fly-logs: fly-vars
	$(FLY) logs $(FLY_ARGS)
fly-ssh: fly-vars
	$(FLY) ssh console $(FLY_ARGS)
fly-status: fly-vars
	$(FLY) status $(FLY_ARGS)
fly-checks: fly-vars
	$(FLY) checks list $(FLY_ARGS)

# The runtime half of the image, built with debootstrap and run in a chroot (root; slow).
image-test: build
	@BACKEND_BIN=$(abspath $(BIN)) tests/image/image-test.sh

# The fly-* targets against a recording stand-in for fly.
test-fly:
	@tests/fly/test-fly-targets.sh

# ---- fuzzing: libFuzzer harnesses in tests/fuzz (clang, ASan + UBSan), built in fcgi-app/build-fuzz.
# fuzz-replay runs every committed corpus input once (CI); fuzz explores for FUZZ_SECONDS per harness.
FUZZ_SECONDS ?= 60

fuzz-replay:
	@tests/fuzz/replay.sh replay

fuzz:
	@tests/fuzz/replay.sh fuzz $(FUZZ_SECONDS)
