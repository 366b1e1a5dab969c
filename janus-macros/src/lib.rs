//! Procedural macros of Janus, re-exported by the `janus` crate.
