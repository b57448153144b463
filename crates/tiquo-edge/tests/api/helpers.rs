//! `TestApp`: start the real server on port 0 with a fresh database, sign
//! tokens with its key, call it over HTTP, and run the real binary for admin
//! commands.

#![allow(dead_code)]

use std::process::{Command, Output};
use std::sync::Once;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tempfile::TempDir;
use tiquo_edge::Application;
use tiquo_edge::config::{Config, ConfigArgs, DEFAULT_AUDIENCE};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(backend: Backend)` as two tests,
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
}

/// Where a test's uploads are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// `file://<data-dir>/blobs` (the default).
    File,
    /// A fresh prefix in the S3 bucket `TIQUO_TEST_S3_BUCKET` of the
    /// S3-compatible server at `AWS_ENDPOINT_URL` (moto, started by `scripts/test`).
    S3,
}

/// Runs each listed `async fn name(backend: Backend, storage: Storage)` as
/// four tests: SQLite and PostgreSQL, each with `file://` and S3 storage.
#[macro_export]
macro_rules! storage_matrix {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::{Backend, Storage};
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_file() {
                    super::$name(Backend::Sqlite, Storage::File).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_file() {
                    super::$name(Backend::Postgres, Storage::File).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_s3() {
                    super::$name(Backend::Sqlite, Storage::S3).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_s3() {
                    super::$name(Backend::Postgres, Storage::S3).await
                }
            }
        )*
    };
}

/// The bucket S3 tests use.
pub fn s3_bucket() -> String {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "the S3 tests need an S3-compatible server: run scripts/test, which starts moto \
         and sets AWS_ENDPOINT_URL and the AWS_* credentials"
    );
    std::env::var("TIQUO_TEST_S3_BUCKET").unwrap_or_else(|_| "tiquo-test".to_owned())
}

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter("info,tiquo_edge=debug")
                .with_test_writer()
                .init();
        }
    });
}

/// A fresh PostgreSQL database, dropped when the test ends.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    async fn create() -> (Self, String) {
        use sqlx::Connection;
        let admin_url =
            std::env::var("TIQUO_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
        let mut url = url::Url::parse(&admin_url).expect("TIQUO_TEST_DATABASE_URL is not a URL");
        let name = tiquo_edge::domain::random_id("tiquo_test_", 9)
            .to_lowercase()
            .replace(['-', '_'], "x");
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is required for the postgres tests (TIQUO_TEST_DATABASE_URL): {e}"
                )
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        conn.close().await.ok();
        url.set_path(&format!("/{name}"));
        (Self { admin_url, name }, url.to_string())
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on;
        // a short-lived thread with its own runtime does the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A running application and what a test needs to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The built-in issuer (`iss` of tokens the server accepts as its own).
    pub issuer: String,
    pub backend: Backend,
    pub client: reqwest::Client,
    pub data_dir: TempDir,
    pub database_url: String,
    pub storage: Storage,
    /// `--storage-url` the server runs with.
    pub storage_url: String,
    signing_key: EncodingKey,
    kid: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    pg: Option<PgDatabase>,
}

/// Configuration arguments as the binary would parse them from `flags`.
pub fn config_args(flags: &[&str]) -> ConfigArgs {
    use clap::Parser;
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        config: ConfigArgs,
    }
    let mut argv = vec!["tiquo-edge"];
    argv.extend_from_slice(flags);
    Wrapper::try_parse_from(argv)
        .expect("test flags parse")
        .config
}

impl TestApp {
    /// Starts the server with default settings.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, &[]).await
    }

    /// Starts the server with extra command-line flags (e.g. `--trusted-issuer`).
    pub async fn spawn_with(backend: Backend, extra_flags: &[&str]) -> Self {
        Self::spawn_on(backend, Storage::File, extra_flags).await
    }

    /// Starts the server on a storage backend, with extra flags.
    pub async fn spawn_on(backend: Backend, storage: Storage, extra_flags: &[&str]) -> Self {
        init_logging();
        let data_dir = tempfile::tempdir().expect("temp dir");
        let storage_url = match storage {
            Storage::File => format!("file://{}/blobs", data_dir.path().display()),
            Storage::S3 => format!(
                "s3://{}/{}",
                s3_bucket(),
                tiquo_edge::domain::random_id("t-", 9)
            ),
        };
        let (pg, database_url) = match backend {
            Backend::Sqlite => (
                None,
                format!("sqlite://{}/tiquo.db", data_dir.path().display()),
            ),
            Backend::Postgres => {
                let (db, url) = PgDatabase::create().await;
                (Some(db), url)
            }
        };
        let data_flag = data_dir.path().display().to_string();
        let mut flags = vec![
            "--data-dir",
            &data_flag,
            "--database-url",
            &database_url,
            "--storage-url",
            &storage_url,
        ];
        flags.extend_from_slice(extra_flags);
        let key_path = data_dir.path().join("jwt-signing-key.pem");
        Self::start(
            backend,
            storage,
            data_dir,
            database_url.clone(),
            storage_url.clone(),
            pg,
            &flags,
            &key_path,
        )
        .await
    }

    /// A second instance on this one's database, storage, signing key and
    /// issuer (as behind a load balancer), with its own data directory.
    pub async fn spawn_peer(&self, extra_flags: &[&str]) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let data_flag = data_dir.path().display().to_string();
        let key_path = self.data_dir.path().join("jwt-signing-key.pem");
        let key_flag = key_path.display().to_string();
        let mut flags = vec![
            "--data-dir",
            &data_flag,
            "--database-url",
            &self.database_url,
            "--storage-url",
            &self.storage_url,
            "--jwt-signing-key",
            &key_flag,
            "--jwt-issuer",
            &self.issuer,
        ];
        flags.extend_from_slice(extra_flags);
        Self::start(
            self.backend,
            self.storage,
            data_dir,
            self.database_url.clone(),
            self.storage_url.clone(),
            None,
            &flags,
            &key_path,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn start(
        backend: Backend,
        storage: Storage,
        data_dir: TempDir,
        database_url: String,
        storage_url: String,
        pg: Option<PgDatabase>,
        flags: &[&str],
        key_path: &std::path::Path,
    ) -> Self {
        let config = Config::resolve(config_args(flags)).expect("test config");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let app = Application::build(config, listener)
            .await
            .expect("build app");
        let base = format!("http://{}", app.address());
        let issuer = app.issuer().to_owned();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = rx.await;
            })
            .await
            .expect("server failed");
        });

        let pem = std::fs::read(key_path).expect("key file");
        let signing_key = EncodingKey::from_rsa_pem(&pem).expect("rsa pem");
        let jwks: Value = reqwest::get(format!("{base}/api/oauth2/jwks"))
            .await
            .expect("jwks")
            .json()
            .await
            .expect("jwks json");
        // The first key of a fresh database is the key file's.
        let kid = jwks["keys"]
            .as_array()
            .and_then(|keys| keys.last())
            .and_then(|k| k["kid"].as_str())
            .expect("kid")
            .to_owned();
        Self {
            base,
            issuer,
            backend,
            client: reqwest::Client::new(),
            data_dir,
            database_url,
            storage,
            storage_url,
            signing_key,
            kid,
            shutdown: Some(tx),
            server: Some(server),
            pg,
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// `base + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `base + /api/client/v1 + path`.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/client/v1{path}", self.base)
    }

    /// The built-in key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The PEM of the built-in private key (the key file's).
    pub fn signing_key_pem(&self) -> Vec<u8> {
        std::fs::read(self.data_dir.path().join("jwt-signing-key.pem")).unwrap()
    }

    /// Valid claims for `sub`, one hour of life.
    pub fn claims(&self, sub: &str) -> Value {
        let now = jsonwebtoken::get_current_timestamp() as i64;
        json!({
            "iss": self.issuer,
            "aud": DEFAULT_AUDIENCE,
            "sub": sub,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        })
    }

    /// Signs `claims` with the built-in key (RS256, correct `kid`).
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        self.sign_with_header(&header, claims)
    }

    /// Signs `claims` with the built-in key and a header of the test's choosing.
    pub fn sign_with_header(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.signing_key).expect("sign")
    }

    /// A valid token for `sub`.
    pub fn token(&self, sub: &str) -> String {
        self.sign(&self.claims(sub))
    }

    /// A valid token for `sub` carrying `email` (verified or not).
    pub fn token_with_email(&self, sub: &str, email: &str, verified: bool) -> String {
        let mut claims = self.claims(sub);
        claims["email"] = json!(email);
        claims["email_verified"] = json!(verified);
        self.sign(&claims)
    }

    /// Runs the real binary with this app's data directory, database and public URL.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        all.extend([
            "--data-dir".to_owned(),
            self.data_dir.path().display().to_string(),
            "--database-url".to_owned(),
            self.database_url.clone(),
            "--public-url".to_owned(),
            self.base.clone(),
            "--storage-url".to_owned(),
            self.storage_url.clone(),
        ]);
        Command::new(env!("CARGO_BIN_EXE_tiquo-edge"))
            .args(&all)
            .env_remove("RUST_LOG")
            .output()
            .expect("run tiquo-edge")
    }

    /// Runs the binary and parses its stdout as JSON, failing the test on error.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "tiquo-edge {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("CLI output is JSON")
    }

    /// Creates a customer through the CLI, linked to `subject` of the built-in issuer.
    pub fn create_customer(&self, email: &str, subject: Option<&str>) -> Value {
        let mut args = vec!["customers", "create", "--email", email];
        if let Some(s) = subject {
            args.extend(["--subject", s]);
        }
        self.cli_json(&args)
    }

    /// Creates a customer linked to a fresh subject; returns (customer, token).
    pub fn customer_with_token(&self, email: &str) -> (Value, String) {
        let subject = format!("user_{}", email.replace(['@', '.'], "_"));
        let customer = self.create_customer(email, Some(&subject));
        (customer, self.token(&subject))
    }

    /// `GET /profile` with a bearer token.
    pub async fn get_profile(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.api("/profile"))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// `PATCH /profile` with a JSON body.
    pub async fn patch_profile(&self, token: &str, body: &Value) -> reqwest::Response {
        self.client
            .patch(self.api("/profile"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Reads a response as JSON and checks its status.
pub async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text}"))
}

/// Checks the error envelope: `success:false`, the code, a message, a timestamp.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    let body = json_of(response, status).await;
    assert_eq!(body["success"], json!(false), "{body}");
    assert_eq!(body["code"], json!(code), "{body}");
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_timestamp(&body["timestamp"]);
    body
}

/// `2025-01-15T10:30:00.000Z`.
pub fn assert_timestamp(value: &Value) {
    let s = value
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is not a string: {value}"));
    let b = s.as_bytes();
    assert!(
        s.len() == 24 && b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && s.ends_with('Z'),
        "not an ISO-8601 UTC timestamp with milliseconds: {s}"
    );
}
