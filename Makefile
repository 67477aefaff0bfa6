# bilevel-opt build wrapper.
#   make            release binary at build/release/bilevel-opt
#   make demo       build, then run the small estimator comparison (the README's main job)
#   make test       install missing Debian packages (Open MPI included), build float, double and the MPI binary,
#                   run every test (tests/mpi on 1–3 ranks), then each fuzz target for FUZZ_TEST_SECONDS
#                   (default 15; 11 targets, 2 at a time: about 90 s) from its seed corpus
#   make sanitize   tests under AddressSanitizer + UndefinedBehaviorSanitizer (double build)
#   make fuzz       libFuzzer targets of the parsers (fuzz/: IDX raw and gzip, CSV plain and gzip, manifest.json,
#                   PNG, hanzi medians JSONL, TOML run configs and sweep specs, run directories as compare reads
#                   them, checkpoint.json),
#                   built with clang + ASan + UBSan in build/fuzz (parser sources only), each run for
#                   FUZZ_SECONDS (default 600), FUZZ_JOBS (default 1) at a time. Fails on any crash; the crashing
#                   input is in build/fuzz/work/crashes/TARGET/ (add it to fuzz/corpus/TARGET/ after the fix).
#                   New inputs go to build/fuzz/work/corpus/, never into the repository.
#   make bench      autodiff micro-benchmarks (experiments/benchmarks)
#   make mpi        the binary with Open MPI (installs libopenmpi-dev, openmpi-bin) at build/mpi/bilevel-opt, for
#                   `mpirun -np N build/mpi/bilevel-opt train …`; make test builds it and runs its tests
#                   (tests/mpi: ranks give the same bits as one process, a failing or killed rank). The other
#                   builds are configured without MPI, so make, make demo and the release binary never need it.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake
BUILD ?= build

FUZZ_SECONDS ?= 600
FUZZ_TEST_SECONDS ?= 15
FUZZ_JOBS ?= 1

.PHONY: all release double debug test sanitize deps deps-mpi bench demo clean fuzz fuzz-build mpi mpi-test

all: release

deps:
	@bash scripts/install-deps.sh
deps-mpi:
	@bash scripts/install-deps.sh --mpi

$(BUILD)/release/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD)/release -DCMAKE_BUILD_TYPE=Release -DBILEVEL_MPI=OFF
$(BUILD)/double/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD)/double -DCMAKE_BUILD_TYPE=Release -DBILEVEL_DOUBLE=ON -DBILEVEL_BENCHMARKS=OFF -DBILEVEL_MPI=OFF
# The MPI build: the binary only (its objects are the release build's, from ccache, but for lib/sys/mpi.cpp).
$(BUILD)/mpi/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD)/mpi -DCMAKE_BUILD_TYPE=Release -DBILEVEL_MPI=ON -DBILEVEL_TESTS=OFF -DBILEVEL_BENCHMARKS=OFF
$(BUILD)/fuzz/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD)/fuzz -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DBILEVEL_FUZZ=ON
$(BUILD)/asan/CMakeCache.txt:
	$(CMAKE) -S . -B $(BUILD)/asan -DCMAKE_BUILD_TYPE=Debug -DBILEVEL_DOUBLE=ON -DBILEVEL_SANITIZE=address,undefined -DBILEVEL_BENCHMARKS=OFF

release: deps $(BUILD)/release/CMakeCache.txt
	$(CMAKE) --build $(BUILD)/release -j $(JOBS)

double: deps $(BUILD)/double/CMakeCache.txt
	$(CMAKE) --build $(BUILD)/double -j $(JOBS)

mpi: deps-mpi $(BUILD)/mpi/CMakeCache.txt
	$(CMAKE) --build $(BUILD)/mpi -j $(JOBS) --target bilevel-opt

mpi-test: mpi
	cd $(BUILD)/mpi && ctest --output-on-failure

test: release double fuzz-build mpi
	cd $(BUILD)/double && ctest --output-on-failure
	cd $(BUILD)/release && ctest --output-on-failure
	cd $(BUILD)/mpi && ctest --output-on-failure
	cd $(BUILD)/fuzz && FUZZ_SECONDS=$(FUZZ_TEST_SECONDS) ctest -j $(JOBS) --output-on-failure; \
	  status=$$?; cat work/*.result 2>/dev/null; exit $$status

fuzz-build: deps $(BUILD)/fuzz/CMakeCache.txt
	$(CMAKE) --build $(BUILD)/fuzz -j $(JOBS)

fuzz: fuzz-build
	cd $(BUILD)/fuzz && FUZZ_SECONDS=$(FUZZ_SECONDS) ctest -j $(FUZZ_JOBS) --timeout $$(( $(FUZZ_SECONDS) + 600 )) \
	  --output-on-failure; status=$$?; cat work/*.result 2>/dev/null; exit $$status

sanitize: deps $(BUILD)/asan/CMakeCache.txt
	$(CMAKE) --build $(BUILD)/asan -j $(JOBS)
	cd $(BUILD)/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure

bench: release
	bash experiments/benchmarks/run_autodiff_bench.sh

demo: deps $(BUILD)/release/CMakeCache.txt
	$(CMAKE) --build $(BUILD)/release -j $(JOBS) --target bilevel-opt
	BILEVEL_OPT=$(BUILD)/release/bilevel-opt bash experiments/demo.sh

clean:
	rm -rf $(BUILD)

# make data [DATA_DIR=dir]: fetch, verify (sha256) and unpack MNIST, Fashion-MNIST and the scikit-learn tables
# (datasets/manifest.json) into $(DATA_DIR) — default $BILEVEL_DATA, else ./data. Idempotent.
DATA_DIR ?= $(if $(BILEVEL_DATA),$(BILEVEL_DATA),data)
.PHONY: data
data:
	bash datasets/fetch.sh $(DATA_DIR)
