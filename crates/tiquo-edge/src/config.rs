//! Configuration: one typed [`Config`] shared by `serve` and the admin commands.
//!
//! Precedence is defaults < `TIQUO_*` environment variables < flags; clap does
//! the layering, this module derives the values that depend on others (the
//! database URL from the data directory, the issuer from the public URL) and
//! checks everything once so a bad setting fails at start-up with one line.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use url::Url;

use crate::blob::StorageUrl;

/// The audience tokens must carry unless configured otherwise.
pub const DEFAULT_AUDIENCE: &str = "tiquo-client-api";

/// Settings shared by every subcommand (`serve`, `migrate`, `customers`, `token`).
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "TIQUO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Directory for the embedded database and the generated signing key (created).
    #[arg(long, env = "TIQUO_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// `sqlite://…` or `postgres://…` [default: sqlite://<data-dir>/tiquo.db]
    #[arg(long, env = "TIQUO_DATABASE_URL")]
    pub database_url: Option<DatabaseUrl>,

    /// Base of every URL the API returns [default: http://<listen address>]
    #[arg(long, env = "TIQUO_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// `iss` of tokens the built-in issuer signs [default: the public URL]
    #[arg(long, env = "TIQUO_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Audience every access token must carry.
    #[arg(long, env = "TIQUO_JWT_AUDIENCE", default_value = DEFAULT_AUDIENCE)]
    pub jwt_audience: String,

    /// RSA private key (PKCS#8 PEM) of the built-in issuer; generated when missing
    /// [default: <data-dir>/jwt-signing-key.pem]
    #[arg(long, env = "TIQUO_JWT_SIGNING_KEY")]
    pub jwt_signing_key: Option<PathBuf>,

    /// Another issuer whose tokens are accepted, as ISS=JWKS_URL (repeatable;
    /// the environment variable takes a comma-separated list).
    #[arg(
        long = "trusted-issuer",
        env = "TIQUO_TRUSTED_ISSUERS",
        value_delimiter = ',',
        value_name = "ISS=JWKS_URL"
    )]
    pub trusted_issuers: Vec<TrustedIssuer>,

    /// Where uploaded photos are kept: file://DIR, s3://BUCKET[/PREFIX] (credentials,
    /// region and AWS_ENDPOINT_URL from the AWS_* variables) or memory://
    /// [default: file://<data-dir>/blobs]
    #[arg(long, env = "TIQUO_STORAGE_URL")]
    pub storage_url: Option<String>,

    /// How long an upload URL stays valid, in seconds.
    #[arg(
        long,
        env = "TIQUO_UPLOAD_URL_TTL",
        default_value_t = 900,
        value_name = "SECONDS"
    )]
    pub upload_url_ttl: u64,

    /// Uploads not attached to a profile within this many seconds are deleted.
    #[arg(
        long,
        env = "TIQUO_ORPHAN_TTL",
        default_value_t = 86_400,
        value_name = "SECONDS"
    )]
    pub orphan_ttl: u64,

    /// How often the server runs the storage cleanup, in seconds (0 turns it off).
    #[arg(
        long,
        env = "TIQUO_GC_INTERVAL",
        default_value_t = 600,
        value_name = "SECONDS"
    )]
    pub gc_interval: u64,

    /// SMTP server for sign-in codes: smtps://[USER:PASS@]HOST[:PORT] (TLS),
    /// smtp://…?tls=required (STARTTLS) or smtp://… (unencrypted; a local relay);
    /// without it codes are written to the log
    #[arg(long, env = "TIQUO_SMTP_URL")]
    pub smtp_url: Option<SmtpUrl>,

    /// Sender of sign-in emails, e.g. "Shop <no-reply@shop.example>".
    #[arg(
        long,
        env = "TIQUO_MAIL_FROM",
        default_value = "tiquo-edge <no-reply@localhost>"
    )]
    pub mail_from: String,

    /// How long a sign-in code is valid, in seconds.
    #[arg(
        long,
        env = "TIQUO_OTP_TTL",
        default_value_t = 600,
        value_name = "SECONDS"
    )]
    pub otp_ttl: u64,

    /// Lifetime of access tokens from sign-in and refresh, in seconds.
    #[arg(
        long,
        env = "TIQUO_ACCESS_TOKEN_TTL",
        default_value_t = 3600,
        value_name = "SECONDS"
    )]
    pub access_token_ttl: u64,

    /// Lifetime of refresh tokens, in seconds.
    #[arg(
        long,
        env = "TIQUO_REFRESH_TOKEN_TTL",
        default_value_t = 2_592_000,
        value_name = "SECONDS"
    )]
    pub refresh_token_ttl: u64,

    /// Create a customer on first sign-in when none of the organization has the email.
    #[arg(long, env = "TIQUO_AUTO_CREATE_CUSTOMERS")]
    pub auto_create_customers: bool,
}

/// An SMTP URL; its `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl(String);

impl SmtpUrl {
    /// The URL itself, credentials included: for connecting, never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact_url(&self.0))
    }
}

impl FromStr for SmtpUrl {
    type Err = std::convert::Infallible;

    /// Accepts anything: checked in [`Config::resolve`], whose error hides
    /// the password (clap would echo the raw value).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(text.to_owned()))
    }
}

fn check_smtp_url(url: &SmtpUrl) -> anyhow::Result<()> {
    let shown = redact_url(url.expose());
    let parsed = Url::parse(url.expose())
        .map_err(|e| anyhow::anyhow!("invalid SMTP URL '{shown}' (--smtp-url): {e}"))?;
    if !matches!(parsed.scheme(), "smtp" | "smtps") || parsed.host_str().is_none() {
        bail!(
            "invalid SMTP URL '{shown}' (--smtp-url): use smtps://HOST[:PORT] or smtp://HOST[:PORT]"
        );
    }
    Ok(())
}

/// A database URL; its `Debug` hides the password, so configuration can be
/// logged or printed in errors safely.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL itself, password included: for connecting, never for printing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact_url(&self.0))
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self(text.to_owned()))
    }
}

/// An external issuer whose tokens are accepted, verified with keys from its JWKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// The exact `iss` its tokens carry.
    pub issuer: String,
    /// Where its public keys are published.
    pub jwks_url: Url,
}

impl FromStr for TrustedIssuer {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (issuer, url) = text
            .split_once('=')
            .ok_or_else(|| format!("expected ISS=JWKS_URL, got '{text}'"))?;
        let issuer = issuer.trim();
        if issuer.is_empty() {
            return Err(format!("empty issuer in '{text}'"));
        }
        let jwks_url =
            Url::parse(url.trim()).map_err(|e| format!("bad JWKS URL '{}': {e}", url.trim()))?;
        if !matches!(jwks_url.scheme(), "http" | "https") {
            return Err(format!("JWKS URL '{jwks_url}' must be http or https"));
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            jwks_url,
        })
    }
}

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// The embedded default.
    Sqlite,
    /// The production database.
    Postgres,
}

impl DatabaseKind {
    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The resolved, checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to bind (`serve` only).
    pub listen: String,
    /// The data directory (exists once [`Config::resolve`] returned).
    pub data_dir: PathBuf,
    /// The database URL, with `mode=rwc` added for SQLite so the file is created.
    pub database_url: DatabaseUrl,
    /// The database behind [`Config::database_url`].
    pub database_kind: DatabaseKind,
    /// Explicit public URL, without a trailing slash; `None` means "derive from the listen address".
    pub public_url: Option<String>,
    /// Explicit issuer; `None` means "the public URL".
    pub jwt_issuer: Option<String>,
    /// Required audience.
    pub jwt_audience: String,
    /// Where the built-in issuer's private key lives.
    pub jwt_signing_key: PathBuf,
    /// External issuers.
    pub trusted_issuers: Vec<TrustedIssuer>,
    /// Where uploaded photos are kept.
    pub storage_url: StorageUrl,
    /// Lifetime of an upload URL.
    pub upload_url_ttl: Duration,
    /// Age after which an unattached upload is deleted.
    pub orphan_ttl: Duration,
    /// Period of the in-server cleanup; `None` when turned off.
    pub gc_interval: Option<Duration>,
    /// Sign-in settings.
    pub sign_in: SignInConfig,
}

/// How customers sign in and keep their sessions.
#[derive(Debug, Clone)]
pub struct SignInConfig {
    /// Where codes are mailed; `None` logs them instead.
    pub smtp_url: Option<SmtpUrl>,
    /// `From:` of the mails.
    pub mail_from: String,
    /// Lifetime of a code.
    pub otp_ttl: Duration,
    /// Lifetime of an access token.
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token.
    pub refresh_token_ttl: Duration,
    /// Create a customer on first sign-in when none matches.
    pub auto_create_customers: bool,
}

impl Config {
    /// Checks the arguments, fills in derived defaults and creates the data directory.
    pub fn resolve(args: ConfigArgs) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&args.data_dir)
            .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
        let database_url = match args.database_url {
            Some(url) => url.0,
            None => sqlite_url_for(&args.data_dir.join("tiquo.db")),
        };
        let (database_url, database_kind) = normalize_database_url(&database_url)?;
        let database_url = DatabaseUrl(database_url);
        let public_url = args
            .public_url
            .map(|raw| check_public_url(&raw))
            .transpose()?;
        if args.jwt_audience.trim().is_empty() {
            bail!("--jwt-audience must not be empty");
        }
        if let Some(issuer) = &args.jwt_issuer
            && issuer.trim().is_empty()
        {
            bail!("--jwt-issuer must not be empty");
        }
        let jwt_signing_key = args
            .jwt_signing_key
            .unwrap_or_else(|| args.data_dir.join("jwt-signing-key.pem"));
        let storage_url = match &args.storage_url {
            Some(url) => StorageUrl::parse(url)?,
            None => StorageUrl::File(args.data_dir.join("blobs")),
        };
        if args.upload_url_ttl == 0 {
            bail!("--upload-url-ttl must be at least 1 second");
        }
        if args.orphan_ttl == 0 {
            bail!("--orphan-ttl must be at least 1 second");
        }
        for (flag, value) in [
            ("--otp-ttl", args.otp_ttl),
            ("--access-token-ttl", args.access_token_ttl),
            ("--refresh-token-ttl", args.refresh_token_ttl),
        ] {
            if value == 0 {
                bail!("{flag} must be at least 1 second");
            }
        }
        if let Some(url) = &args.smtp_url {
            check_smtp_url(url)?;
        }
        lettre::message::Mailbox::from_str(&args.mail_from)
            .map_err(|e| anyhow::anyhow!("invalid --mail-from '{}': {e}", args.mail_from))?;
        Ok(Self {
            listen: args.listen,
            data_dir: args.data_dir,
            database_url,
            database_kind,
            public_url,
            jwt_issuer: args.jwt_issuer,
            jwt_audience: args.jwt_audience,
            jwt_signing_key,
            trusted_issuers: args.trusted_issuers,
            storage_url,
            upload_url_ttl: Duration::from_secs(args.upload_url_ttl),
            orphan_ttl: Duration::from_secs(args.orphan_ttl),
            gc_interval: (args.gc_interval > 0).then(|| Duration::from_secs(args.gc_interval)),
            sign_in: SignInConfig {
                smtp_url: args.smtp_url,
                mail_from: args.mail_from,
                otp_ttl: Duration::from_secs(args.otp_ttl),
                access_token_ttl: Duration::from_secs(args.access_token_ttl),
                refresh_token_ttl: Duration::from_secs(args.refresh_token_ttl),
                auto_create_customers: args.auto_create_customers,
            },
        })
    }

    /// The public URL, derived from `addr` (`host:port`) unless set explicitly.
    pub fn public_url_for(&self, addr: &str) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None => format!("http://{addr}"),
        }
    }

    /// The public URL when the server listens on `addr`.
    pub fn public_url_bound(&self, addr: SocketAddr) -> String {
        self.public_url_for(&addr.to_string())
    }

    /// The built-in issuer for a given public URL.
    pub fn issuer_for(&self, public_url: &str) -> String {
        self.jwt_issuer
            .clone()
            .unwrap_or_else(|| public_url.to_owned())
    }

    /// The built-in issuer as the admin commands see it (no listener is bound).
    pub fn offline_issuer(&self) -> String {
        self.issuer_for(&self.public_url_for(&self.listen))
    }
}

/// `sqlite://` URL for a file path; `%`, `?` and `#` are escaped because the
/// driver percent-decodes the path and splits parameters at `?`.
fn sqlite_url_for(path: &Path) -> String {
    let mut escaped = String::new();
    for c in path.display().to_string().chars() {
        match c {
            '%' => escaped.push_str("%25"),
            '?' => escaped.push_str("%3F"),
            '#' => escaped.push_str("%23"),
            c => escaped.push(c),
        }
    }
    format!("sqlite://{escaped}")
}

fn normalize_database_url(url: &str) -> anyhow::Result<(String, DatabaseKind)> {
    if url.starts_with("sqlite:") {
        let url = if url.contains("mode=") {
            url.to_owned()
        } else if url.contains('?') {
            format!("{url}&mode=rwc")
        } else {
            format!("{url}?mode=rwc")
        };
        Ok((url, DatabaseKind::Sqlite))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Url::parse(url)
            .map_err(|e| anyhow::anyhow!("invalid --database-url '{}': {e}", redact_url(url)))?;
        Ok((url.to_owned(), DatabaseKind::Postgres))
    } else {
        bail!(
            "unsupported --database-url '{}': use sqlite://PATH or postgres://USER@HOST/DB",
            redact_url(url)
        )
    }
}

fn check_public_url(raw: &str) -> anyhow::Result<String> {
    let url = Url::parse(raw).map_err(|e| anyhow::anyhow!("invalid --public-url '{raw}': {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("invalid --public-url '{raw}': must be an absolute http or https URL");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!("invalid --public-url '{raw}': must not have a query or fragment");
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// The URL with any password replaced, safe for logs and error messages.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "<unparsable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_issuer_parses() {
        let t: TrustedIssuer = "https://idp.example=https://idp.example/jwks"
            .parse()
            .unwrap();
        assert_eq!(t.issuer, "https://idp.example");
        assert_eq!(t.jwks_url.as_str(), "https://idp.example/jwks");
        assert!("no-equals".parse::<TrustedIssuer>().is_err());
        assert!("=https://x/jwks".parse::<TrustedIssuer>().is_err());
        assert!("iss=ftp://x/jwks".parse::<TrustedIssuer>().is_err());
    }

    #[test]
    fn database_urls() {
        let (url, kind) = normalize_database_url("sqlite://data/x.db").unwrap();
        assert_eq!(
            (url.as_str(), kind),
            ("sqlite://data/x.db?mode=rwc", DatabaseKind::Sqlite)
        );
        let (_, kind) = normalize_database_url("postgres://u@h/db").unwrap();
        assert_eq!(kind, DatabaseKind::Postgres);
        assert!(normalize_database_url("mysql://h/db").is_err());
        assert_eq!(sqlite_url_for(Path::new("a?b/t.db")), "sqlite://a%3Fb/t.db");
    }

    #[test]
    fn secrets_are_redacted() {
        let r = redact_url("postgres://user:hunter2@db/app");
        assert!(!r.contains("hunter2"), "{r}");
        let url: DatabaseUrl = "postgres://user:hunter2@db/app".parse().unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
        assert!(
            normalize_database_url("mysql://u:hunter2@h/db")
                .unwrap_err()
                .to_string()
                .contains("***")
        );
    }

    #[test]
    fn public_url_is_checked() {
        assert_eq!(
            check_public_url("https://edge.example/").unwrap(),
            "https://edge.example"
        );
        assert!(check_public_url("not a url").is_err());
        assert!(check_public_url("ftp://x").is_err());
    }
}
