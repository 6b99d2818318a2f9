# Marketing backend: lighttpd + libfcgi responders + Postgres.
# `make run` starts everything locally; `make test` runs every test; `make check` lints.

CC      ?= cc
SANITIZE ?=
V ?= 0

SRC_DIR   := fcgi-app/src
BUILD_DIR := fcgi-app/build$(if $(SANITIZE),-san)
BIN       := $(BUILD_DIR)/backend

PKGS    := libpq jansson libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -I/usr/include/postgresql
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lpq -ljansson -lsodium) -lfcgi -lm

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wpointer-arith -Wcast-qual -Wformat=2 -Wvla -Wundef -Wwrite-strings \
        -Wnull-dereference -Wimplicit-fallthrough
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -O2 -g -fno-common -fstack-protector-strong \
               -D_FORTIFY_SOURCE=2 -MMD -MP $(WARN) $(PKG_CFLAGS)
ifneq ($(SANITIZE),)
CFLAGS_BASE := $(filter-out -O2 -D_FORTIFY_SOURCE=2,$(CFLAGS_BASE)) -O1 \
               -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif
CFLAGS += $(CFLAGS_BASE)

SRCS := $(wildcard $(SRC_DIR)/*.c)
OBJS := $(patsubst $(SRC_DIR)/%.c,$(BUILD_DIR)/%.o,$(SRCS))
LIB_OBJS := $(filter-out $(BUILD_DIR)/main.o,$(OBJS))

ifeq ($(V),0)
Q := @
else
Q :=
endif

.PHONY: all build deps run stop migrate check-config test test-unit test-integration test-faults test-smoke bench \
        test-asan test-valgrind check format clean bench image-test rollups-run rollups-backfill \
        rollups-status rollups-discrepancy retention-purge test-fly fly-launch fly-pg-attach fly-secrets \
        fly-deploy fly-deploy-only fly-migrate fly-logs fly-ssh fly-status fly-checks fuzz-replay fuzz

all: build
build: $(BIN)

$(BIN): $(OBJS)
	@echo "  LINK $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(OBJS) $(PKG_LIBS)

$(BUILD_DIR)/%.o: $(SRC_DIR)/%.c | $(BUILD_DIR)
	@echo "  CC   $<"
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD_DIR):
	$(Q)mkdir -p $@

-include $(OBJS:.o=.d)

# ---- unit tests: one binary per tests/unit/test_*.c, linked against every module but main.
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD_DIR)/tests/%,$(UNIT_SRCS))

$(BUILD_DIR)/tests/%: tests/unit/%.c $(LIB_OBJS) tests/unit/t.h tests/unit/treq.h
	@mkdir -p $(dir $@)
	@echo "  TEST $@"
	$(Q)$(CC) $(CFLAGS) -I$(SRC_DIR) $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(PKG_LIBS)

# Installs the Debian packages the project needs (idempotent, quiet when present).
deps:
	@infra/scripts/install-deps.sh

test-unit: $(UNIT_BINS)
	@infra/scripts/run-unit-tests.sh $(UNIT_BINS)

test-integration: $(BIN)
	@IT_EXCLUDE=faults BACKEND_BIN=$(abspath $(BIN)) python3 tests/integration/run.py

# The fault scenarios (tests/integration/test_faults.py): Postgres stopped, restarted, frozen,
# responders killed, graceful stop, slow clients; prints a table of them, then "N passed, N failed".
test-faults: $(BIN)
	@BACKEND_BIN=$(abspath $(BIN)) python3 tests/integration/run.py faults.

test-smoke: $(BIN)
	@BACKEND_BIN=$(abspath $(BIN)) tests/smoke/cgi-fcgi.sh

# Debian's chromium on an allowed and a foreign site page against the real stack (npm ci first when
# tests/browser/package-lock.json changed; screenshots under tests/browser/artifacts/).
.PHONY: test-browser
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
	@clang-format -i $(wildcard $(SRC_DIR)/*.[ch] tests/unit/*.[ch] tests/fuzz/*.[ch])

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

# Throughput, latency, CPU per request and memory of POST /v1/events against pgbench's ceiling.
bench:
	@infra/scripts/install-deps.sh
	@$(MAKE) --no-print-directory build
	@BACKEND_BIN=$(abspath $(BIN)) python3 tests/bench/bench.py

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

# ---- Fly.io (infra/fly/README.md). FLY is the flyctl binary; FLY_PG_APP names the Postgres app.
FLY ?= fly
FLY_CONFIG := infra/fly/fly.toml
FLY_ENV_FILE ?= .env.production

fly-launch:
	$(FLY) launch --config $(FLY_CONFIG) --copy-config --no-deploy
fly-pg-attach:
	@test -n "$(FLY_PG_APP)" || { echo "fly-pg-attach: set FLY_PG_APP=<your Fly Postgres app>" >&2; exit 1; }
	$(FLY) postgres attach $(FLY_PG_APP) --config $(FLY_CONFIG)
# Secrets are staged: they take effect with the next deploy.
fly-secrets:
	@test -f $(FLY_ENV_FILE) || { echo "fly-secrets: $(FLY_ENV_FILE) is missing (see infra/fly/README.md)" >&2; exit 1; }
	$(FLY) secrets import --stage --config $(FLY_CONFIG) < $(FLY_ENV_FILE)
fly-deploy: check
	$(FLY) deploy --config $(FLY_CONFIG)
	$(FLY) checks list --config $(FLY_CONFIG)
fly-deploy-only:
	$(FLY) deploy --config $(FLY_CONFIG)
fly-migrate:
	$(FLY) ssh console --config $(FLY_CONFIG) --command "/app/entrypoint.sh migrate"
fly-logs:
	$(FLY) logs --config $(FLY_CONFIG)
fly-ssh:
	$(FLY) ssh console --config $(FLY_CONFIG)
fly-status:
	$(FLY) status --config $(FLY_CONFIG)
fly-checks:
	$(FLY) checks list --config $(FLY_CONFIG)

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
