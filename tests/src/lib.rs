//! Integration tests of Janus (see `tests/`).
