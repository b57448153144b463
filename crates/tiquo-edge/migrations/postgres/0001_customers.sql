-- Customers, per-organization customer-number counters and account links.
-- Instants are Unix milliseconds; money is integer minor units (cents).
CREATE TABLE customers (
    id                   TEXT    PRIMARY KEY,
    organization_id      TEXT    NOT NULL,
    customer_number      TEXT    NOT NULL,
    email                TEXT,
    email_normalized     TEXT,
    first_name           TEXT,
    last_name            TEXT,
    display_name         TEXT,
    phone                TEXT,
    profile_photo        TEXT,
    status               TEXT    NOT NULL DEFAULT 'active'
                                 CHECK (status IN ('active', 'inactive', 'archived')),
    total_orders         BIGINT  NOT NULL DEFAULT 0,
    total_spent_minor    BIGINT  NOT NULL DEFAULT 0,
    lifetime_value_minor BIGINT  NOT NULL DEFAULT 0,
    created_at_ms        BIGINT  NOT NULL,
    updated_at_ms        BIGINT  NOT NULL,
    version              BIGINT  NOT NULL DEFAULT 1
);

CREATE UNIQUE INDEX customers_org_email ON customers (organization_id, email_normalized);
CREATE UNIQUE INDEX customers_org_number ON customers (organization_id, customer_number);

CREATE TABLE customer_counters (
    organization_id TEXT    PRIMARY KEY,
    last_number     BIGINT  NOT NULL
);

CREATE TABLE account_links (
    organization_id TEXT    NOT NULL,
    issuer          TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    customer_id     TEXT    NOT NULL REFERENCES customers (id),
    created_at_ms   BIGINT  NOT NULL,
    PRIMARY KEY (organization_id, issuer, subject)
);

CREATE INDEX account_links_customer ON account_links (customer_id);
