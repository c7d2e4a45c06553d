-- Federation: the outbox of messages to other nodes, the record of
-- messages received (for de-duplication), and, on the national node, the
-- latest statutory report of every case.

-- Written by `apply` in the same transaction as the change that causes the
-- message; the delivery worker then sends rows in order per recipient and
-- marks them delivered only on the receiver's ack. Delivery bookkeeping
-- (state, attempts, errors) is node-local and written directly.
CREATE TABLE outbox (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id       TEXT NOT NULL UNIQUE,
    recipient        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    case_id          TEXT,
    envelope         BLOB NOT NULL,
    created_at       TEXT NOT NULL,
    -- pending | delivered | rejected (refused for good; kept for operators)
    state            TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_error       TEXT,
    delivered_at     TEXT
);
CREATE INDEX outbox_pending ON outbox(recipient, state, seq);

-- Every message applied, by sender: a message seen before is acknowledged
-- again and not applied twice.
CREATE TABLE inbox_seen (
    sender       TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (sender, message_id)
);

-- National node: the highest revision of each case's statutory report.
-- Pseudonymous by construction: the message type carries no identity.
CREATE TABLE statutory_reports (
    case_id             TEXT PRIMARY KEY,
    revision            INTEGER NOT NULL,
    disease             TEXT NOT NULL,
    diagnosis_class     TEXT NOT NULL,
    sex                 TEXT NOT NULL,
    age                 INTEGER NOT NULL,
    municipality_code   TEXT NOT NULL,
    prefecture_code     TEXT NOT NULL,
    reporting_centre    TEXT NOT NULL,
    responsible_centre  TEXT NOT NULL,
    onset_date          TEXT,
    diagnosis_date      TEXT,
    report_date         TEXT NOT NULL,
    tests_positive      INTEGER NOT NULL,
    tests_negative      INTEGER NOT NULL,
    tests_other         INTEGER NOT NULL,
    test_methods        TEXT NOT NULL,
    status              TEXT NOT NULL,
    hospitalised        INTEGER NOT NULL,
    severe              INTEGER NOT NULL,
    deceased            INTEGER NOT NULL,
    withdrawn           INTEGER NOT NULL,
    sender              TEXT NOT NULL,
    message_id          TEXT NOT NULL,
    first_received_at   TEXT NOT NULL,
    received_at         TEXT NOT NULL
);
CREATE INDEX statutory_reports_by_report_date ON statutory_reports(report_date);
