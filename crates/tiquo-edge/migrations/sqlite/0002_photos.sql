-- Profile photos: single-use upload tickets, uploaded objects, and the queue
-- of object-store keys that may hold bytes nobody references.

ALTER TABLE customers ADD COLUMN photo_storage_id TEXT;

-- Only the SHA-256 of a ticket is kept: a database leak reveals no upload URL.
CREATE TABLE upload_tickets (
    ticket_hash     TEXT    PRIMARY KEY,
    customer_id     TEXT    NOT NULL REFERENCES customers (id),
    created_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    used_at_ms      INTEGER
);

CREATE INDEX upload_tickets_expiry ON upload_tickets (expires_at_ms);

-- A row exists only once its bytes are complete in the object store.
CREATE TABLE stored_objects (
    storage_id      TEXT    PRIMARY KEY,
    customer_id     TEXT    NOT NULL REFERENCES customers (id),
    content_type    TEXT    NOT NULL,
    size_bytes      INTEGER NOT NULL,
    sha256          TEXT    NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    attached_at_ms  INTEGER
);

CREATE INDEX stored_objects_unattached ON stored_objects (created_at_ms)
    WHERE attached_at_ms IS NULL;

-- Keys to delete from the object store once due: uploads in progress (due
-- after their deadline, removed when they commit), released photos (due at
-- once) and deletes that failed (retried later).
CREATE TABLE object_cleanup (
    storage_id      TEXT    PRIMARY KEY,
    due_at_ms       INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX object_cleanup_due ON object_cleanup (due_at_ms);
