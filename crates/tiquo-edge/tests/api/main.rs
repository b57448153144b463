//! Black-box tests: the real application on a loopback port, real HTTP, a real
//! database. Every test in the `both_backends!` lists runs twice, once on a
//! fresh SQLite file and once on a fresh PostgreSQL database
//! (`TIQUO_TEST_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/postgres`).
//! Photo tests also run on `file://` and S3 storage (`storage_matrix!`).
//! Set `TEST_LOG=1` to see the server's log.

mod helpers;

mod auth;
mod cli;
mod cli_output;
mod http;
mod photos;
mod profile;
mod sign_in;
