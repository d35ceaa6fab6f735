# The everyday commands. `just --list` shows them.

# Build the aisec binary (optimised: candle in a debug build is ~20x slower).
build:
    cargo build --release

# Every test, optimised, as CI runs them.
test:
    cargo test --workspace --release

# The labs end to end with the reference solutions and shipped models.
demo *ARGS:
    cargo run --release -- demo {{ARGS}}

# Throughput of the CNN on this machine.
bench:
    cargo run --release -- bench

# Format everything.
fmt:
    cargo fmt --all

# Lints, warnings as errors.
lint:
    cargo clippy --workspace --release --all-targets -- -D warnings

# Remake a shipped model from its preset, then refresh the models manifest.
retrain PRESET SEED="1":
    cargo run --release -- train --preset {{PRESET}} --seed {{SEED}} --out models/{{PRESET}}.safetensors
    cargo run --release -- manifest create models

# Wall time of `aisec check --all` on the reference solutions, against another built checkout.
bench-grading OTHER RUNS="5":
    docs/bench/grading-wall-time.sh {{OTHER}} {{RUNS}}
