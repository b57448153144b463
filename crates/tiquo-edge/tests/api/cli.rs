//! The binary itself: admin commands (JSON on stdout, errors on stderr with a
//! non-zero exit), `serve` start-up, fail-fast configuration errors and
//! graceful shutdown. The server processes here share the test's database and
//! data directory with the in-process server, like two instances behind a
//! load balancer.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    customers_create_prints_the_customer_with_increasing_numbers,
    customers_create_reproduces_seed_totals,
    customers_create_refuses_duplicate_email_case_insensitively,
    customers_create_refuses_bad_input,
    customers_get_and_link,
    concurrent_creations_get_distinct_numbers,
    token_issue_prints_a_token_the_server_accepts,
    migrate_is_idempotent,
    serve_logs_one_line_and_stops_on_sigterm,
    serve_finishes_in_flight_requests_on_sigterm,
);

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn customers_create_prints_the_customer_with_increasing_numbers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.cli_json(&[
        "customers",
        "create",
        "--email",
        "ann@example.com",
        "--first-name",
        "Ann",
        "--last-name",
        "Lee",
        "--phone",
        "+44 20 7946 0958",
    ]);
    assert_eq!(first["customerNumber"], json!("CUST-000001"));
    assert_eq!(first["displayName"], json!("Ann Lee"));
    assert_eq!(first["phone"], json!("+442079460958"));
    assert_eq!(first["status"], json!("active"));
    assert!(first["id"].as_str().unwrap().starts_with("cust_"));
    let second = app.create_customer("bob@example.com", None);
    assert_eq!(second["customerNumber"], json!("CUST-000002"));
    assert_eq!(second["displayName"], Value::Null);
    // Numbering is per organization.
    let other = app.cli_json(&[
        "customers",
        "create",
        "--email",
        "ann@example.com",
        "--organization",
        "org_other",
    ]);
    assert_eq!(other["customerNumber"], json!("CUST-000001"));
}

async fn customers_create_reproduces_seed_totals(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let out = app.cli(&[
        "customers",
        "create",
        "--email",
        "customer@example.com",
        "--total-orders",
        "5",
        "--total-spent",
        "150.00",
        "--lifetime-value",
        "200",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("\"totalSpent\": 150.00"), "{text}");
    assert!(text.contains("\"lifetimeValue\": 200.00"), "{text}");
    let customer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(customer["totalOrders"], json!(5));
    let bad = app.cli(&[
        "customers",
        "create",
        "--email",
        "x@example.com",
        "--total-spent",
        "1.005",
    ]);
    assert!(!bad.status.success());
}

async fn customers_create_refuses_duplicate_email_case_insensitively(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_customer("Dup@Example.com", None);
    let out = app.cli(&["customers", "create", "--email", "dup@example.COM"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    let err = stderr_of(&out);
    assert!(err.contains("already exists"), "{err}");
    // The failed attempt did not use up a customer number.
    let next = app.create_customer("next@example.com", None);
    assert_eq!(next["customerNumber"], json!("CUST-000002"));
}

async fn customers_create_refuses_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for args in [
        vec!["customers", "create", "--email", "not-an-email"],
        vec![
            "customers",
            "create",
            "--email",
            "a@example.com",
            "--phone",
            "12345",
        ],
        vec![
            "customers",
            "create",
            "--email",
            "a@example.com",
            "--first-name",
            "  ",
        ],
        vec![
            "customers",
            "create",
            "--email",
            "a@example.com",
            "--issuer",
            "https://x",
        ],
    ] {
        let out = app.cli(&args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(out.stdout.is_empty());
        assert!(!stderr_of(&out).trim().is_empty());
    }
    // Nothing was created by the refused commands.
    assert_eq!(
        app.create_customer("a@example.com", None)["customerNumber"],
        json!("CUST-000001")
    );
}

async fn customers_get_and_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create_customer("link@example.com", None);
    let id = created["id"].as_str().unwrap();
    assert_eq!(app.cli_json(&["customers", "get", id]), created);
    let missing = app.cli(&["customers", "get", "cust_missing"]);
    assert!(!missing.status.success());
    assert!(stderr_of(&missing).contains("cust_missing"));

    // Before linking, the subject has no customer.
    let token = app.token("user_link");
    let body = json_of(app.get_profile(&token).await, 200).await;
    assert_eq!(body["data"]["customer"], Value::Null);

    let linked = app.cli_json(&[
        "customers",
        "link",
        "--customer",
        id,
        "--subject",
        "user_link",
    ]);
    assert_eq!(linked["customerId"], json!(id));
    assert_eq!(linked["issuer"], json!(app.issuer));
    let body = json_of(app.get_profile(&token).await, 200).await;
    assert_eq!(body["data"]["customer"]["id"], json!(id));

    // Linking again is harmless; linking the subject elsewhere is refused.
    app.cli_json(&[
        "customers",
        "link",
        "--customer",
        id,
        "--subject",
        "user_link",
    ]);
    let other = app.create_customer("other@example.com", None);
    let out = app.cli(&[
        "customers",
        "link",
        "--customer",
        other["id"].as_str().unwrap(),
        "--subject",
        "user_link",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("already linked"),
        "{}",
        stderr_of(&out)
    );
}

async fn concurrent_creations_get_distinct_numbers(backend: Backend) {
    let app = std::sync::Arc::new(TestApp::spawn(backend).await);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let app = app.clone();
            std::thread::spawn(move || app.create_customer(&format!("c{i}@example.com"), None))
        })
        .collect();
    let mut numbers: Vec<String> = handles
        .into_iter()
        .map(|h| {
            h.join().unwrap()["customerNumber"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=8).map(|n| format!("CUST-{n:06}")).collect();
    assert_eq!(numbers, expected);
}

async fn token_issue_prints_a_token_the_server_accepts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_customer("tok@example.com", Some("user_tok"));
    let out = app.cli(&[
        "token",
        "issue",
        "--subject",
        "user_tok",
        "--email",
        "tok@example.com",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "a bare compact JWT: {token}");
    let body = json_of(app.get_profile(&token).await, 200).await;
    assert_eq!(
        body["data"]["user"],
        json!({"id": "user_tok", "email": "tok@example.com"})
    );
    assert_eq!(body["data"]["customer"]["email"], json!("tok@example.com"));

    let issued = app.cli_json(&[
        "token",
        "issue",
        "--subject",
        "user_tok",
        "--ttl",
        "60",
        "--json",
    ]);
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let expires_at = issued["expires_at"].as_i64().unwrap();
    assert!((now + 50..=now + 70).contains(&expires_at), "{issued}");
    let token = issued["access_token"].as_str().unwrap();
    json_of(app.get_profile(token).await, 200).await;

    // A token for another organization is signed with that claim.
    let other = app.cli_json(&[
        "token",
        "issue",
        "--subject",
        "user_tok",
        "--organization",
        "org_other",
        "--json",
    ]);
    let body = json_of(
        app.get_profile(other["access_token"].as_str().unwrap())
            .await,
        200,
    )
    .await;
    assert_eq!(
        body["data"]["customer"],
        Value::Null,
        "org_other has no such customer"
    );
}

async fn migrate_is_idempotent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for _ in 0..2 {
        let out = app.cli_json(&["migrate"]);
        assert_eq!(out["migrated"], json!(true));
    }
}

/// A `tiquo-edge serve` child process on a free port.
pub(crate) struct ServerProcess {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub(crate) address: String,
    /// Its stderr, line by line (the start-up line already taken).
    pub(crate) log: mpsc::Receiver<String>,
}

impl ServerProcess {
    /// Starts `serve` on the app's data directory and database.
    pub(crate) fn start(app: &TestApp) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tiquo-edge"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(app.data_dir.path())
            .args(["--database-url", &app.database_url])
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn serve");
        let (tx, log) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let started = log
            .recv_timeout(Duration::from_secs(30))
            .expect("serve printed nothing");
        assert!(started.contains("listening"), "first log line: {started}");
        let address = started
            .split_whitespace()
            .find_map(|field| field.strip_prefix("listen="))
            .expect("listen= in the start-up line")
            .to_owned();
        assert!(started.contains("database="), "{started}");
        assert!(started.contains("issuer="), "{started}");
        Self {
            child,
            address,
            log,
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        (status, self.log.try_iter().collect())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve_logs_one_line_and_stops_on_sigterm(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server = ServerProcess::start(&app);
    let body = json_of(
        reqwest::get(format!("http://{}/health", server.address))
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(body["data"]["status"], json!("ok"));
    // The second instance signs with the same key file, so the tokens of
    // one are accepted by the other when they share a public URL.
    server.terminate();
    let (status, _) = tokio::task::spawn_blocking(move || server.wait())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status}");
}

async fn serve_finishes_in_flight_requests_on_sigterm(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let server = ServerProcess::start(&app);
    // This instance's issuer is its own address; link a subject for it.
    let issuer = format!("http://{}", server.address);
    let customer = app.cli_json(&[
        "customers",
        "create",
        "--email",
        "inflight@example.com",
        "--subject",
        "user_if",
        "--issuer",
        &issuer,
    ]);
    let mut claims = app.claims("user_if");
    claims["iss"] = json!(issuer);
    let token = app.sign(&claims);

    let address = server.address.clone();
    let (status, log) = tokio::task::spawn_blocking(move || {
        let body = br#"{"firstName":"Inflight"}"#;
        let mut stream = TcpStream::connect(&address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "PATCH /api/client/v1/profile HTTP/1.1\r\nHost: {address}\r\n\
             Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        )
        .unwrap();
        // "100 Continue" arrives once the handler starts reading the body:
        // the request is now in flight.
        let mut interim = [0u8; 25];
        stream.read_exact(&mut interim).unwrap();
        assert!(
            interim.starts_with(b"HTTP/1.1 100 Continue"),
            "{:?}",
            String::from_utf8_lossy(&interim)
        );
        server.terminate();
        stream.write_all(body).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response.contains("\"firstName\":\"Inflight\""),
            "{response}"
        );
        server.wait()
    })
    .await
    .unwrap();
    assert!(status.success(), "exit status {status}; log: {log:?}");
    let stored = app.cli_json(&["customers", "get", customer["id"].as_str().unwrap()]);
    assert_eq!(
        stored["firstName"],
        json!("Inflight"),
        "the acknowledged write is kept"
    );
}

/// Runs `serve` with `flags` on a free port and a fresh data directory and
/// expects it to exit at once with one `error:` line on stderr.
fn serve_fails_with(flags: &[&str], expected: &str) -> String {
    serve_fails_with_env(flags, &[], expected)
}

/// [`serve_fails_with`], with extra environment variables.
pub(crate) fn serve_fails_with_env(flags: &[&str], env: &[(&str, &str)], expected: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tiquo-edge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .args(flags)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve {flags:?} should fail");
    let stderr = stderr_of(&out);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "exactly one error line: {stderr}");
    assert!(
        errors[0].contains(expected),
        "{:?} lacks {expected:?}",
        errors[0]
    );
    errors[0].to_owned()
}

#[test]
fn serve_fails_fast_on_bad_configuration() {
    serve_fails_with(
        &["--database-url", "mysql://db/app"],
        "unsupported --database-url",
    );
    serve_fails_with(
        &["--database-url", "postgres://postgres@127.0.0.1:1/x"],
        "Connection refused",
    );
    serve_fails_with(&["--public-url", "not a url"], "invalid --public-url");
    serve_fails_with(&["--jwt-signing-key", "/nonexistent-dir/key.pem"], "key");
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("key.pem");
    std::fs::write(&garbage, "not a key").unwrap();
    serve_fails_with(
        &["--jwt-signing-key", garbage.to_str().unwrap()],
        "not usable",
    );
}

#[test]
fn errors_never_show_database_passwords() {
    let line = serve_fails_with(
        &["--database-url", "postgres://app:hunter2@127.0.0.1:1/x"],
        "cannot connect to database",
    );
    assert!(!line.contains("hunter2"), "{line}");
}

#[test]
fn listen_address_in_use_is_reported() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tiquo-edge"))
        .args(["serve", "--listen", &address, "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("cannot listen on"),
        "{}",
        stderr_of(&out)
    );
}

/// The claims of a token, read without verifying it (the test only looks).
fn claims_of(token: &str) -> Value {
    jsonwebtoken::dangerous::insecure_decode_claims(token.trim()).expect("a JWT")
}

#[test]
fn environment_configures_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let issue = |flags: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tiquo-edge"))
            .args(["token", "issue", "--subject", "user_env"])
            .args(flags)
            .env("TIQUO_DATA_DIR", dir.path())
            .env("TIQUO_JWT_AUDIENCE", "env-audience")
            .env("TIQUO_JWT_ISSUER", "https://env-issuer.example")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        claims_of(&String::from_utf8(out.stdout).unwrap())
    };
    let from_env = issue(&[]);
    assert_eq!(from_env["aud"], json!("env-audience"));
    assert_eq!(from_env["iss"], json!("https://env-issuer.example"));
    assert!(
        dir.path().join("jwt-signing-key.pem").exists(),
        "TIQUO_DATA_DIR chose where the key was generated"
    );
    let flagged = issue(&[
        "--jwt-audience",
        "flag-audience",
        "--jwt-issuer",
        "https://flag.example",
    ]);
    assert_eq!(flagged["aud"], json!("flag-audience"));
    assert_eq!(flagged["iss"], json!("https://flag.example"));
}

#[test]
fn trusted_issuers_variable_is_a_comma_separated_list() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tiquo-edge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env(
            "TIQUO_TRUSTED_ISSUERS",
            "https://a.example=https://a.example/jwks,broken",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    // The first entry parsed; the second, split off at the comma, was refused.
    let err = stderr_of(&out);
    assert!(err.contains("got 'broken'"), "{err}");
}

#[tokio::test]
async fn embedded_database_runs_in_wal_mode() {
    use sqlx::Connection;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
        .await
        .unwrap();
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode.to_ascii_lowercase(), "wal");
}
