# The two commands of the README. Both install missing Debian packages, configure once, and rebuild
# only what changed.
#   make run    build and run fetchd's main job
#   make test   lint (clang-format, shellcheck, clang-tidy), build (release, ASan/UBSan) and run the
#               whole test suite, and the thread-crossing tests under TSan
.PHONY: run test build deps test-deps format-check shellcheck tidy tsan fuzz fuzz-check package-deps package e2e clean

JOBS ?= 2
RELEASE := build/release
SANITIZE := build/asan
TSAN := build/tsan
# The daemon in the foreground on the shipped example (socket and state under ./run/); Ctrl-C stops
# it. RUN_ARGS='once URL...' runs the one-shot mode instead.
RUN_ARGS ?= --config config/fetchd.json
VERSION := $(shell dpkg-parsechangelog -l packaging/debian/changelog -S Version)
DEB := build/deb/fetchd_$(VERSION)_amd64.deb

deps:
	@scripts/install-deps.sh

test-deps:
	@scripts/install-deps.sh --test

# -g1: line tables only, enough for backtraces and sanitizer reports, and a good part of the
# compile time of full debug information (make test builds three configurations on 2 cores).
# UNITY: the sources compiled eight to a translation unit, so the headers (Asio, nlohmann, spdlog,
# GoogleTest) are parsed an eighth as often: the release build takes about half the time.
UNITY := -DCMAKE_UNITY_BUILD=ON -DCMAKE_UNITY_BUILD_BATCH_SIZE=8
$(RELEASE)/build.ninja:
	cmake -S . -B $(RELEASE) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFETCHD_WERROR=ON $(UNITY) \
	  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"

$(SANITIZE)/build.ninja:
	cmake -S . -B $(SANITIZE) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFETCHD_WERROR=ON -DFETCHD_SANITIZE=ON \
	  $(UNITY) -DCMAKE_CXX_FLAGS_DEBUG=-g1

$(TSAN)/build.ninja:
	cmake -S . -B $(TSAN) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFETCHD_WERROR=ON -DFETCHD_TSAN=ON \
	  $(UNITY) -DCMAKE_CXX_FLAGS_DEBUG=-g1

build: deps $(RELEASE)/build.ninja
	ninja -C $(RELEASE) -j$(JOBS) fetchd fetchctl

# Once the daemon answers on its control socket (the example's run/control.sock; for 10 s at
# most), says how to query it from a second terminal.
run: build
	@( for i in $$(seq 100); do \
	  if $(RELEASE)/fetchctl --socket run/control.sock status >/dev/null 2>&1; then \
	    printf '\n  In a second terminal: %s --socket run/control.sock list\n\n' "$(RELEASE)/fetchctl"; \
	    break; fi; sleep 0.1; done ) &
	$(RELEASE)/fetchd $(RUN_ARGS)

format-check: test-deps
	@files=$$(git ls-files '*.cpp' '*.h'); clang-format --dry-run --Werror $$files && echo "format ok"

shellcheck: test-deps
	@scripts/shellcheck.sh

# clang-tidy (.clang-tidy) on every daemon source (fetchctl's and main.cpp included), every
# finding an error; `make tidy TIDY_DIRS=daemon/http` checks one folder.
TIDY_DIRS ?= daemon
tidy: test-deps
	@TIDY_DIRS="$(TIDY_DIRS)" TIDY_JOBS=$(JOBS) scripts/clang-tidy.sh

# ThreadSanitizer on the tests that cross threads: the service's reload reader thread (ServiceTest,
# the daemons reloading in DaemonTest and FetchctlDaemonTest, the control reload command), the
# state files it writes, the results store's writer thread, the notifier's state writer and the
# command runner's children. A report fails the test. Not FetchctlTest: fetchctl has one thread, and
# the fake server's hand-off to the test goes through the fetchctl process, which TSan cannot see.
TSAN_TESTS ?= ^(ServiceTest|DaemonTest|FetchctlDaemonTest|CommandsTest|AtomicFile|RuntimeTargets|StateCrash|ResultsStore|PersistenceTest|NotifierTest|CommandTest)\.
tsan: test-deps $(TSAN)/build.ninja
	ninja -C $(TSAN) -j$(JOBS) fetchd_tests fetchd fetchctl
	cd $(TSAN) && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ctest -j$(JOBS) --output-on-failure --timeout 600 -R '$(TSAN_TESTS)'

# libFuzzer on each parser (tests/fuzz/) for FUZZ_SECONDS (default 60) each; make test runs each
# for a short fixed time on the checked-in corpus (fuzz-check).
FUZZ_SECONDS ?= 60
fuzz: test-deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) scripts/fuzz.sh
fuzz-check: test-deps
	@FUZZ_SECONDS=10 JOBS=$(JOBS) scripts/fuzz.sh

test: test-deps $(RELEASE)/build.ninja $(SANITIZE)/build.ninja format-check shellcheck tidy
	ninja -C $(RELEASE) -j$(JOBS)
	cd $(RELEASE) && ctest -j$(JOBS) --output-on-failure --timeout 300
	ninja -C $(SANITIZE) -j$(JOBS)
	cd $(SANITIZE) && ASAN_OPTIONS=detect_leaks=1 ctest -j$(JOBS) --output-on-failure --timeout 600
	$(MAKE) tsan
	$(MAKE) fuzz-check

package-deps:
	@scripts/install-deps.sh --package

# The Debian package, in build/deb/ (packaging/build-deb.sh); lintian must find no errors.
package: package-deps
	packaging/build-deb.sh
	lintian --fail-on error build/deb/fetchd_$(VERSION)_amd64.changes

# Opt-in: installs that package in a Debian 12 container booted with systemd as PID 1 and checks
# the service's whole life there (tests/packaging/nspawn_e2e.sh). Needs root and namespaces; where
# the machine cannot, it says why and is skipped.
e2e: package
	@bash tests/packaging/nspawn_e2e.sh $(DEB); rc=$$?; \
	  if [ $$rc -eq 77 ]; then echo "e2e: skipped on this machine"; else exit $$rc; fi

clean:
	rm -rf build
