//! Integration tests against moto and cargo-lambda (being written).
