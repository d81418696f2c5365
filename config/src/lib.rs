//! k3rs-config: command-line flags, `K3RS_*` environment variables, the config file, defaults,
//! validation, and the data-dir layout.
//!
//! Owns: what the operator can set and where each setting comes from (flag > env > file > default).
//! Does not: depend on actix, start anything, or do I/O beyond reading configuration files.
