-- Between centres: transfers of responsibility (移管), related-centre shares
-- (関係保健所) and contact referrals.

-- Set when the case was transferred: the node that owns it now. A case with
-- an owner here is a read-only stub.
ALTER TABLE cases ADD COLUMN owner TEXT;
-- Set while an offer to transfer the case is outstanding: no edits then.
ALTER TABLE cases ADD COLUMN pending_transfer TEXT;
-- The centre that first received the notification (NULL: this node).
ALTER TABLE cases ADD COLUMN reporting_centre TEXT;
-- Keyed hash of normalised kana, birth date and sex, for duplicate warnings
-- across centres without exchanging the plain values.
ALTER TABLE persons ADD COLUMN person_key BLOB;
CREATE INDEX persons_by_key ON persons(person_key);

CREATE TABLE transfers (
    id            TEXT PRIMARY KEY,
    case_id       TEXT NOT NULL,
    -- out: this node offered; in: this node was offered.
    direction     TEXT NOT NULL,
    peer          TEXT NOT NULL,
    -- out: offered | completed | rejected | withdrawn
    -- in:  offered | accepting | completed | rejected | withdrawn
    state         TEXT NOT NULL,
    reason        TEXT,
    -- in: the offer as received (postcard), until completed or dropped.
    payload       BLOB,
    -- in: cases here that seem to be the same person.
    duplicate_of  TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX transfers_by_state ON transfers(direction, state);

CREATE TABLE shares (
    id          TEXT PRIMARY KEY,
    case_id     TEXT NOT NULL,
    direction   TEXT NOT NULL,
    peer        TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    -- active | revoked
    state       TEXT NOT NULL,
    -- in: the latest copy received (postcard); deleted on revoke.
    payload     BLOB,
    revision    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX shares_by_case ON shares(case_id, direction, state);

-- Views of this node's shared cases reported back by related centres.
CREATE TABLE share_views (
    share_id     TEXT NOT NULL,
    peer         TEXT NOT NULL,
    viewer       TEXT NOT NULL,
    viewer_role  TEXT NOT NULL,
    viewed_at    TEXT NOT NULL
);
CREATE INDEX share_views_by_share ON share_views(share_id);

-- Close contacts referred here by other centres, to observe.
CREATE TABLE referred_contacts (
    id                 TEXT PRIMARY KEY,
    from_centre        TEXT NOT NULL,
    index_link         TEXT NOT NULL,
    name               TEXT NOT NULL,
    name_kana          TEXT,
    phone              TEXT,
    municipality_code  TEXT,
    relation           TEXT,
    last_exposure_on   TEXT,
    received_at        TEXT NOT NULL
);

-- Referrals this node sent, per contact.
ALTER TABLE contacts ADD COLUMN referred_to TEXT;
