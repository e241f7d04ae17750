# Thin wrapper over CMake: `make demo` runs the default matrix against the virtual
# camera, `make check` runs the whole test suite. See README.md.
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?=
CTEST_FLAGS ?=
# Twice as many tests at a time as CPUs: the tests mostly wait on processes and
# devices (CPU time about 0.6 of wall time at -j2). scripts/stress-tests.sh does the same.
CTEST_JOBS ?= $(shell echo $$(( $$(nproc) * 2 )))

.PHONY: all deps build demo check check-sanitize sanitize-tree bench fuzz clean

all: build

deps:
	sh scripts/deps.sh

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

build: $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

demo: deps build
	$(BUILD)/bin/tlsmatrix run --jobs 2 --report results/latest

check: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(CTEST_JOBS) $(CTEST_FLAGS)

# One sanitizer tree, build-asan/ (clang, AddressSanitizer + UndefinedBehaviorSanitizer,
# with the libFuzzer targets: CMakeLists.txt, TM_FUZZ), for both of these. An older
# build-asan/ configured without TM_FUZZ (gcc) is made again.
SAN_BUILD = build-asan
SAN_FLAGS = -DCMAKE_C_COMPILER=clang -DTM_FUZZ=ON
sanitize-tree: deps
	@if [ -f $(SAN_BUILD)/CMakeCache.txt ] && ! grep -q '^TM_FUZZ:BOOL=ON' $(SAN_BUILD)/CMakeCache.txt; then \
	  echo "$(SAN_BUILD)/ was configured without TM_FUZZ: configuring it again from scratch"; \
	  rm -rf $(SAN_BUILD); fi
	cmake -S . -B $(SAN_BUILD) $(SAN_FLAGS)

# The suite under the sanitizers, less the tests labelled plain-only (CMakeLists.txt).
check-sanitize: sanitize-tree
	$(MAKE) check BUILD=$(SAN_BUILD) CTEST_FLAGS="-LE plain-only"

# libFuzzer targets (fuzz/README.md), each run for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz: sanitize-tree
	cmake --build $(SAN_BUILD) --target fuzz_all -j $(JOBS)
	sh fuzz/run.sh $(SAN_BUILD) $(FUZZ_SECONDS)

bench: deps build
	cmake --build $(BUILD) --target bench

clean:
	rm -rf $(BUILD) $(SAN_BUILD) build-fuzz
