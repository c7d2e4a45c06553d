-- Every assignment a case has had. The audit's "views no assignment
-- explains" judges a contractor's or facility's read against the assignment
-- in force when it happened, not today's: a patient moved from one
-- contractor to another must not make the first one's earlier reads look
-- unexplained. Kept by triggers on `assignments`, in the same transaction as
-- the change, so replaying the command log rebuilds it.
CREATE TABLE assignment_history (
    case_id       TEXT NOT NULL,
    kind          TEXT NOT NULL,
    organisation  TEXT NOT NULL,
    from_date     TEXT NOT NULL,
    until_date    TEXT,
    assigned_at   TEXT NOT NULL,
    -- when a later assignment took its place; NULL while in force
    replaced_at   TEXT
);
CREATE INDEX assignment_history_by_case ON assignment_history(case_id, organisation);

INSERT INTO assignment_history (case_id, kind, organisation, from_date, until_date, assigned_at)
    SELECT case_id, kind, organisation, from_date, until_date, assigned_at FROM assignments;

CREATE TRIGGER assignment_history_insert AFTER INSERT ON assignments BEGIN
    INSERT INTO assignment_history (case_id, kind, organisation, from_date, until_date, assigned_at)
        VALUES (NEW.case_id, NEW.kind, NEW.organisation, NEW.from_date, NEW.until_date, NEW.assigned_at);
END;

CREATE TRIGGER assignment_history_update AFTER UPDATE ON assignments BEGIN
    UPDATE assignment_history SET replaced_at = NEW.assigned_at
        WHERE case_id = OLD.case_id AND replaced_at IS NULL;
    INSERT INTO assignment_history (case_id, kind, organisation, from_date, until_date, assigned_at)
        VALUES (NEW.case_id, NEW.kind, NEW.organisation, NEW.from_date, NEW.until_date, NEW.assigned_at);
END;
