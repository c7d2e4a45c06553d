-- Renkei node core: users and sessions, the command log, case records and
-- the hash-chained audit trail.
--
-- Conventions: ids are text (UUID v7 unless said otherwise); instants are
-- RFC 3339 UTC text; calendar dates are 'YYYY-MM-DD' text in Japan time.
-- Every table written by a command is changed only by `apply`, inside the
-- transaction that appends the command to `command_log`.

-- Users of this node. Password hashes are argon2id PHC strings; TOTP
-- secrets are base32. `until` is the last day (inclusive) an account works.
CREATE TABLE users (
    id                    TEXT PRIMARY KEY,
    role                  TEXT NOT NULL,
    organisation          TEXT,
    password_hash         TEXT NOT NULL,
    must_change_password  INTEGER NOT NULL DEFAULT 1,
    totp_secret           TEXT NOT NULL,
    -- Highest TOTP time step accepted so far: a code is accepted once.
    totp_last_step        INTEGER NOT NULL DEFAULT 0,
    until                 TEXT,
    disabled_at           TEXT,
    created_at            TEXT NOT NULL,
    created_by            TEXT NOT NULL
);

-- Login sessions. Only a SHA-256 of the bearer token is stored. Sessions are
-- node-local authentication state, not records: they are written directly,
-- not through the command log, and are not replicated.
CREATE TABLE sessions (
    token_hash    BLOB PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);

-- The command log: every change to this node's records, in order. Replaying
-- it through `apply` on an empty database rebuilds the same records.
CREATE TABLE command_log (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,
    kind     TEXT NOT NULL,
    body     TEXT NOT NULL
);

CREATE TABLE persons (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    name_kana      TEXT NOT NULL,
    sex            TEXT NOT NULL,
    date_of_birth  TEXT NOT NULL,
    phone          TEXT
);

CREATE TABLE cases (
    id                       TEXT PRIMARY KEY,
    person_id                TEXT NOT NULL REFERENCES persons(id),
    disease                  TEXT NOT NULL,
    diagnosis_class          TEXT NOT NULL,
    onset_date               TEXT,
    diagnosis_date           TEXT,
    symptoms                 TEXT NOT NULL DEFAULT '[]',
    reporting_doctor         TEXT,
    reporting_institution    TEXT,
    occupation               TEXT,
    free_text                TEXT,
    municipality_code        TEXT NOT NULL,
    address                  TEXT NOT NULL,
    status                   TEXT NOT NULL,
    entered_by               TEXT NOT NULL,
    entered_at               TEXT NOT NULL,
    confirmed_by             TEXT,
    confirmed_at             TEXT,
    confirmed_by_entrant     INTEGER,
    -- Set when an additional registration supersedes this notification;
    -- a locked notification can no longer be edited.
    locked_by                TEXT REFERENCES cases(id),
    supersedes               TEXT REFERENCES cases(id),
    revision                 INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX cases_by_person ON cases(person_id);
CREATE INDEX cases_by_institution ON cases(reporting_institution, id);
CREATE INDEX cases_by_status ON cases(status, id);

-- The day each diagnosis class of a case was first reported.
CREATE TABLE class_reports (
    case_id      TEXT NOT NULL REFERENCES cases(id),
    class        TEXT NOT NULL,
    reported_on  TEXT NOT NULL,
    PRIMARY KEY (case_id, class)
);

CREATE TABLE tests (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL REFERENCES cases(id),
    method        TEXT NOT NULL,
    specimen      TEXT NOT NULL,
    collected_on  TEXT NOT NULL,
    result        TEXT NOT NULL,
    entered_by    TEXT NOT NULL,
    entered_at    TEXT NOT NULL
);
CREATE INDEX tests_by_case ON tests(case_id);

CREATE TABLE status_history (
    case_id  TEXT NOT NULL REFERENCES cases(id),
    seq      INTEGER NOT NULL,
    status   TEXT NOT NULL,
    at       TEXT NOT NULL,
    by_user  TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);

CREATE TABLE place_of_stay_history (
    case_id            TEXT NOT NULL REFERENCES cases(id),
    seq                INTEGER NOT NULL,
    municipality_code  TEXT NOT NULL,
    address            TEXT NOT NULL,
    at                 TEXT NOT NULL,
    by_user            TEXT NOT NULL,
    PRIMARY KEY (case_id, seq)
);

CREATE TABLE medical (
    case_id        TEXT PRIMARY KEY REFERENCES cases(id),
    hospital       TEXT,
    admitted_on    TEXT,
    discharged_on  TEXT,
    icu            INTEGER NOT NULL DEFAULT 0,
    ventilator     INTEGER NOT NULL DEFAULT 0,
    ecmo           INTEGER NOT NULL DEFAULT 0,
    updated_at     TEXT NOT NULL,
    updated_by     TEXT NOT NULL
);

CREATE TABLE observations (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL REFERENCES cases(id),
    observed_at   TEXT NOT NULL,
    temperature   REAL,
    spo2          INTEGER,
    symptoms      TEXT NOT NULL DEFAULT '[]',
    entered_by    TEXT NOT NULL,
    entered_role  TEXT NOT NULL
);
CREATE INDEX observations_by_case ON observations(case_id, observed_at);

CREATE TABLE contacts (
    id                 TEXT PRIMARY KEY,
    case_id            TEXT NOT NULL REFERENCES cases(id),
    name               TEXT NOT NULL,
    name_kana          TEXT,
    phone              TEXT,
    municipality_code  TEXT,
    relation           TEXT,
    last_exposure_on   TEXT,
    entered_by         TEXT NOT NULL,
    entered_at         TEXT NOT NULL
);
CREATE INDEX contacts_by_case ON contacts(case_id);

-- Which organisation observes the patient: the centre itself, a follow-up
-- contractor, an accommodation facility, or the midwives' association.
CREATE TABLE assignments (
    case_id       TEXT PRIMARY KEY REFERENCES cases(id),
    kind          TEXT NOT NULL,
    organisation  TEXT NOT NULL,
    from_date     TEXT NOT NULL,
    until_date    TEXT,
    assigned_by   TEXT NOT NULL,
    assigned_at   TEXT NOT NULL
);
CREATE INDEX assignments_by_organisation ON assignments(organisation);

-- Patient self-report links: only a SHA-256 of the token is stored.
CREATE TABLE self_report_links (
    token_hash  BLOB PRIMARY KEY,
    case_id     TEXT NOT NULL REFERENCES cases(id),
    expires_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- The audit trail. Each entry's hash covers its fields and the previous
-- entry's hash, so an edited, deleted or reordered entry breaks the chain.
-- It records which part of a record was read or written, never the data.
CREATE TABLE audit (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    at            TEXT NOT NULL,
    actor         TEXT NOT NULL,
    role          TEXT NOT NULL,
    organisation  TEXT,
    action        TEXT NOT NULL,
    case_id       TEXT,
    person_id     TEXT,
    part          TEXT,
    outcome       TEXT NOT NULL,
    reason        TEXT,
    prev_hash     BLOB NOT NULL,
    hash          BLOB NOT NULL
);
CREATE INDEX audit_by_case ON audit(case_id);
CREATE INDEX audit_by_actor ON audit(actor, seq);
