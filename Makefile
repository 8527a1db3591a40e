# sharpeyes — the two commands a newcomer needs, plus the benchmark.
#   make demo   install what is missing, start a simulated fleet and the daemon against it
#   make test   install what is missing, then fmt, clippy and every test
#   make bench  hold N sessions with sharpeyes, ffmpeg and GStreamer side by side
#   make bench-vision / make soak   vision cost and a 30-minute memory soak
#   make soak-faults   20 minutes of flaps, broker outages and kill -9: false offline, alerts lost
#   make bench-page / make screenshots   the ops page: 10,000-camera first view; docs/screenshots
#   make image   the container image on a debootstrap base (scripts/docker-images.sh)

CAMERAS ?= 36
.PHONY: setup demo test lint bench bench-vision bench-page screenshots soak soak-faults image

setup:
	scripts/setup.sh

demo: setup
	cargo build
	scripts/demo.sh $(CAMERAS)

lint: setup
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	# No import cycle among top-level modules or files (issue 11).
	python3 scripts/check-cycles.py --max-top 0 --max-files 0

test: lint
	cargo test -- --nocapture
	# The vendored retina's own tests, the sharpeyes patches' among them (third_party/retina/PATCHES.md).
	cargo test -p retina --lib

bench: setup
	cargo build --release
	scripts/bench-hold.sh

bench-vision: setup
	cargo build --release
	python3 scripts/bench_vision.py

bench-page: setup
	cargo build
	target/browser-venv/bin/python scripts/bench_page.py

screenshots: setup
	cargo build
	target/browser-venv/bin/python scripts/screenshots.py

soak: setup
	cargo build --release
	python3 scripts/soak_vision.py --minutes 30

soak-faults: setup
	cargo build --release
	python3 scripts/soak_faults.py --minutes 20

# sharpeyes:dev on a debootstrap Debian 12 base (no registry needed), from a release build.
image: setup
	cargo build --release
	scripts/docker-images.sh image target/release/sharpeyes
