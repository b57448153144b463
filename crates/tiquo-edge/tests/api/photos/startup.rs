//! Storage settings are checked at start-up: a bad one stops `serve` at once
//! with one `error:` line, before any upload could fail on it.

use crate::cli::serve_fails_with_env;

#[test]
fn bad_storage_settings_fail_fast() {
    serve_fails_with_env(
        &["--storage-url", "gs://bucket"],
        &[],
        "unsupported --storage-url",
    );
    serve_fails_with_env(&["--storage-url", "s3://"], &[], "invalid --storage-url");
    serve_fails_with_env(
        &["--upload-url-ttl", "0"],
        &[],
        "--upload-url-ttl must be at least 1 second",
    );
    serve_fails_with_env(
        &["--orphan-ttl", "0"],
        &[],
        "--orphan-ttl must be at least 1 second",
    );
}

#[test]
fn unreachable_s3_fails_fast_with_the_cause() {
    // Nothing listens on port 1: the start-up probe fails, naming the store.
    let line = serve_fails_with_env(
        &["--storage-url", "s3://tiquo-test/x"],
        &[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "secret-never-shown"),
            ("AWS_REGION", "us-east-1"),
        ],
        "storage s3://tiquo-test/x is not usable",
    );
    assert!(!line.contains("secret-never-shown"), "{line}");
}
