# Thin wrapper over CMake: `make demo` runs the default matrix against the virtual
# camera, `make check` runs the whole test suite. See README.md.
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build demo check check-sanitize bench fuzz clean

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
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer (CI runs both).
check-sanitize: deps
	$(MAKE) check BUILD=build-asan CMAKE_FLAGS=-DTM_SANITIZE=ON

# libFuzzer targets (fuzz/README.md), each run for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DTM_FUZZ=ON
	cmake --build build-fuzz --target fuzz_all -j $(JOBS)
	sh fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

bench: deps build
	cmake --build $(BUILD) --target bench

clean:
	rm -rf $(BUILD) build-asan build-fuzz
