//! Supervisor tests.
use super::*;
