//! The built-in issuer's signing key and the tokens it signs.
//!
//! The key is an RSA-2048 private key in PKCS#8 PEM. When the configured file
//! does not exist it is generated once, written with mode 0600 (created
//! exclusively, so two processes starting together end up sharing one key),
//! and from then on used as is.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::Serialize;

use crate::clock;
use crate::domain::random_id;

/// The built-in issuer's key pair.
pub struct SigningKey {
    kid: String,
    pem: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// What to put in a token the built-in issuer signs.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// `sub`.
    pub subject: String,
    /// `email` (and `email_verified: true`, since the issuer vouches for it).
    pub email: Option<String>,
    /// `organization_id`.
    pub organization_id: String,
    /// Lifetime in seconds.
    pub ttl_secs: i64,
    /// `token_source`.
    pub token_source: String,
    /// `sid`: the session a sign-in started (none for admin-issued tokens).
    pub session_id: Option<String>,
}

/// A signed access token.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    /// The compact JWT.
    pub access_token: String,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_verified: Option<bool>,
    organization_id: &'a str,
    token_source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
}

impl SigningKey {
    /// Loads the key at `path`, generating it first when the file does not exist.
    pub fn load_or_generate(path: &Path) -> anyhow::Result<Self> {
        let pem = match std::fs::read(path) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => generate(path)?,
            Err(e) => {
                anyhow::bail!("cannot read JWT signing key {}: {e}", path.display())
            }
        };
        Self::from_pem(&pem)
            .with_context(|| format!("JWT signing key {} is not usable", path.display()))
    }

    /// Parses an RSA private key in PEM.
    pub fn from_pem(pem: &[u8]) -> anyhow::Result<Self> {
        let text = std::str::from_utf8(pem)
            .map_err(|_| anyhow::anyhow!("expected an RSA private key in PEM"))?
            .to_owned();
        let encoding = EncodingKey::from_rsa_pem(pem)
            .map_err(|e| anyhow::anyhow!("expected an RSA private key in PEM: {e}"))?;
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256)
            .map_err(|e| anyhow::anyhow!("cannot derive the public key: {e}"))?;
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| anyhow::anyhow!("cannot compute the key id: {e}"))?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let decoding = DecodingKey::from_jwk(&jwk)
            .map_err(|e| anyhow::anyhow!("cannot build the verification key: {e}"))?;
        Ok(Self {
            kid,
            pem: text,
            encoding,
            decoding,
            jwk,
        })
    }

    /// The key id (RFC 7638 thumbprint of the public key).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key in PEM, for the database that shares it between instances.
    pub fn private_pem(&self) -> &str {
        &self.pem
    }

    /// The public key as published in the JWKS.
    pub fn public_jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The key that verifies this issuer's signatures.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    /// Signs an access token (RS256, `kid` header).
    pub fn issue(&self, request: &TokenRequest) -> anyhow::Result<IssuedToken> {
        let now = clock::now_secs();
        let expires_at = now + request.ttl_secs;
        let claims = Claims {
            iss: &request.issuer,
            aud: &request.audience,
            sub: &request.subject,
            exp: expires_at,
            iat: now,
            nbf: now,
            jti: random_id("", 16),
            email: request.email.as_deref(),
            email_verified: request.email.as_ref().map(|_| true),
            organization_id: &request.organization_id,
            token_source: &request.token_source,
            sid: request.session_id.as_deref(),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        let access_token = jsonwebtoken::encode(&header, &claims, &self.encoding)
            .context("signing the access token failed")?;
        Ok(IssuedToken {
            access_token,
            expires_at,
        })
    }
}

/// A new RSA-2048 private key in PKCS#8 PEM (takes a noticeable fraction of
/// a second: call it off the async threads).
pub fn generate_pem() -> anyhow::Result<String> {
    let pair = KeyPair::generate(KeySize::Rsa2048)
        .map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
    let der = pair
        .as_der()
        .map_err(|_| anyhow::anyhow!("RSA key encoding failed"))?;
    Ok(pem::encode(&pem::Pem::new(
        "PRIVATE KEY",
        der.as_ref().to_vec(),
    )))
}

fn generate(path: &Path) -> anyhow::Result<Vec<u8>> {
    let pem = generate_pem()?;
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match created {
        Ok(mut file) => {
            file.write_all(pem.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write JWT signing key {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new JWT signing key");
            Ok(pem.into_bytes())
        }
        // Another process created it between our read and our create: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(path)
            .with_context(|| format!("cannot read JWT signing key {}", path.display())),
        Err(e) => Err(anyhow::anyhow!(
            "cannot create JWT signing key {}: {e}",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn generates_once_with_private_mode_then_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pem");
        let first = SigningKey::load_or_generate(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = SigningKey::load_or_generate(&path).unwrap();
        assert_eq!(first.kid(), second.kid());
    }

    #[test]
    fn refuses_garbage() {
        assert!(SigningKey::from_pem(b"not a key").is_err());
    }
}
