# The two set-up commands of the README:
#   make demo   install dependencies, build, run the demo
#   make test   install dependencies, build, run every test
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build demo test bench clean

all: build

deps:
	scripts/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	scripts/demo.sh $(BUILD)/gateway/postern

test: deps
	scripts/test.sh

bench: build
	bench/run.sh $(BUILD)/gateway/postern

clean:
	rm -rf $(BUILD) build-asan build-fuzz
