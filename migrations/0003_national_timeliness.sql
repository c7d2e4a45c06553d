-- National node: when each report left its centre, so the lag from a
-- notification being committed at the centre to its report being committed
-- here can be measured per centre.
ALTER TABLE statutory_reports ADD COLUMN first_sent_at TEXT;
ALTER TABLE statutory_reports ADD COLUMN sent_at TEXT;
CREATE INDEX statutory_reports_by_centre ON statutory_reports(responsible_centre, first_received_at);
