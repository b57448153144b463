-- Built-in sign-in: signing keys, users, one-time codes, send throttling,
-- sessions and rotating refresh tokens. Secrets are stored only as hashes,
-- except the signing keys, which every instance must be able to use.

-- The built-in issuer's keys. The newest unretired key signs; a retired key
-- stays published until publish_until_ms, when no token it signed is valid.
CREATE TABLE signing_keys (
    kid              TEXT    PRIMARY KEY,
    private_pem      TEXT    NOT NULL,
    created_at_ms    INTEGER NOT NULL,
    retired_at_ms    INTEGER,
    publish_until_ms INTEGER
);

-- A person who signed in with an email code, per organization.
CREATE TABLE users (
    id               TEXT    PRIMARY KEY,
    organization_id  TEXT    NOT NULL,
    email            TEXT    NOT NULL,
    email_normalized TEXT    NOT NULL,
    created_at_ms    INTEGER NOT NULL
);

CREATE UNIQUE INDEX users_org_email ON users (organization_id, email_normalized);

-- At most one live code per (organization, email); a new send replaces it.
CREATE TABLE otp_codes (
    organization_id  TEXT    NOT NULL,
    email_normalized TEXT    NOT NULL,
    code_hash        TEXT    NOT NULL,
    salt             TEXT    NOT NULL,
    expires_at_ms    INTEGER NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (organization_id, email_normalized)
);

-- One row per throttle key, locked while a send is checked and recorded,
-- so concurrent sends cannot all pass the limit.
CREATE TABLE otp_throttle_keys (
    throttle_key     TEXT    PRIMARY KEY
);

-- One row per accepted send, per throttle key ("email:…" or "ip:…").
CREATE TABLE otp_sends (
    throttle_key     TEXT    NOT NULL,
    sent_at_ms       INTEGER NOT NULL
);

CREATE INDEX otp_sends_key_time ON otp_sends (throttle_key, sent_at_ms);

-- A sign-in and everything refreshed from it.
CREATE TABLE sessions (
    id               TEXT    PRIMARY KEY,
    user_id          TEXT    NOT NULL REFERENCES users (id),
    created_at_ms    INTEGER NOT NULL,
    revoked_at_ms    INTEGER
);

CREATE INDEX sessions_revoked ON sessions (revoked_at_ms) WHERE revoked_at_ms IS NOT NULL;

CREATE TABLE refresh_tokens (
    token_hash       TEXT    PRIMARY KEY,
    session_id       TEXT    NOT NULL REFERENCES sessions (id),
    created_at_ms    INTEGER NOT NULL,
    expires_at_ms    INTEGER NOT NULL,
    used_at_ms       INTEGER
);

CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
