-- National node: counts by day and by the dimensions most tables use
-- (prefecture, age band, sex, class), and the current picture by the same,
-- kept by triggers in the transaction that stores, replaces or deletes a
-- report. A statistics query then reads a few thousand rows instead of
-- every report; queries by municipality or centre still read the reports.
-- The undated (no diagnosis or onset date) are counted under day ''.
CREATE TABLE daily_counts (
    basis            TEXT NOT NULL,
    day              TEXT NOT NULL,
    prefecture_code  TEXT NOT NULL,
    age_band         TEXT NOT NULL,
    sex              TEXT NOT NULL,
    diagnosis_class  TEXT NOT NULL,
    n                INTEGER NOT NULL,
    PRIMARY KEY (basis, day, prefecture_code, age_band, sex, diagnosis_class)
) WITHOUT ROWID;

CREATE TABLE current_counts (
    prefecture_code  TEXT NOT NULL,
    age_band         TEXT NOT NULL,
    sex              TEXT NOT NULL,
    diagnosis_class  TEXT NOT NULL,
    cases            INTEGER NOT NULL,
    active           INTEGER NOT NULL,
    hospitalised     INTEGER NOT NULL,
    severe           INTEGER NOT NULL,
    deceased         INTEGER NOT NULL,
    released         INTEGER NOT NULL,
    PRIMARY KEY (prefecture_code, age_band, sex, diagnosis_class)
) WITHOUT ROWID;

INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
    SELECT 'report', report_date, prefecture_code, CASE WHEN age >= 90 THEN '90+' ELSE printf('%d-%d', (age / 10) * 10, (age / 10) * 10 + 9) END, sex, diagnosis_class, COUNT(*)
    FROM statutory_reports WHERE withdrawn = 0 GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
    SELECT 'diagnosis', COALESCE(diagnosis_date, ''), prefecture_code, CASE WHEN age >= 90 THEN '90+' ELSE printf('%d-%d', (age / 10) * 10, (age / 10) * 10 + 9) END, sex, diagnosis_class, COUNT(*)
    FROM statutory_reports WHERE withdrawn = 0 GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
    SELECT 'onset', COALESCE(onset_date, ''), prefecture_code, CASE WHEN age >= 90 THEN '90+' ELSE printf('%d-%d', (age / 10) * 10, (age / 10) * 10 + 9) END, sex, diagnosis_class, COUNT(*)
    FROM statutory_reports WHERE withdrawn = 0 GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO current_counts (prefecture_code, age_band, sex, diagnosis_class, cases, active, hospitalised, severe, deceased, released)
    SELECT prefecture_code, CASE WHEN age >= 90 THEN '90+' ELSE printf('%d-%d', (age / 10) * 10, (age / 10) * 10 + 9) END, sex, diagnosis_class, COUNT(*),
           SUM(status NOT IN ('released', 'deceased') AND deceased = 0), SUM(hospitalised), SUM(severe),
           SUM(deceased), SUM(status = 'released')
    FROM statutory_reports WHERE withdrawn = 0 GROUP BY 1, 2, 3, 4;

CREATE TRIGGER statutory_reports_counted_on_insert AFTER INSERT ON statutory_reports
BEGIN
    INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
        SELECT 'report', NEW.report_date, NEW.prefecture_code, CASE WHEN NEW.age >= 90 THEN '90+' ELSE printf('%d-%d', (NEW.age / 10) * 10, (NEW.age / 10) * 10 + 9) END, NEW.sex, NEW.diagnosis_class, 1 WHERE NEW.withdrawn = 0
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
        SELECT 'diagnosis', COALESCE(NEW.diagnosis_date, ''), NEW.prefecture_code, CASE WHEN NEW.age >= 90 THEN '90+' ELSE printf('%d-%d', (NEW.age / 10) * 10, (NEW.age / 10) * 10 + 9) END, NEW.sex, NEW.diagnosis_class, 1 WHERE NEW.withdrawn = 0
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
        SELECT 'onset', COALESCE(NEW.onset_date, ''), NEW.prefecture_code, CASE WHEN NEW.age >= 90 THEN '90+' ELSE printf('%d-%d', (NEW.age / 10) * 10, (NEW.age / 10) * 10 + 9) END, NEW.sex, NEW.diagnosis_class, 1 WHERE NEW.withdrawn = 0
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO current_counts (prefecture_code, age_band, sex, diagnosis_class, cases, active, hospitalised, severe, deceased, released)
        SELECT NEW.prefecture_code, CASE WHEN NEW.age >= 90 THEN '90+' ELSE printf('%d-%d', (NEW.age / 10) * 10, (NEW.age / 10) * 10 + 9) END, NEW.sex, NEW.diagnosis_class, 1,
               (NEW.status NOT IN ('released', 'deceased') AND NEW.deceased = 0), NEW.hospitalised, NEW.severe,
               NEW.deceased, (NEW.status = 'released') WHERE NEW.withdrawn = 0
        ON CONFLICT DO UPDATE SET cases = cases + excluded.cases, active = active + excluded.active,
            hospitalised = hospitalised + excluded.hospitalised, severe = severe + excluded.severe,
            deceased = deceased + excluded.deceased, released = released + excluded.released;
END;

CREATE TRIGGER statutory_reports_counted_on_update AFTER UPDATE ON statutory_reports
BEGIN
    INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
        SELECT 'report', OLD.report_date, OLD.prefecture_code, CASE WHEN OLD.age >= 90 THEN '90+' ELSE printf('%d-%d', (OLD.age / 10) * 10, (OLD.age / 10) * 10 + 9) END, OLD.sex, OLD.diagnosis_class, -1 WHERE OLD.withdrawn = 0
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
        SELECT 'diagnosis', COALESCE(OLD.diagnosis_date, ''), OLD.prefecture_code, CASE WHEN OLD.age >= 90 THEN '90+' ELSE printf('%d-%d', (OLD.age / 10) * 10, (OLD.age / 10) * 10 + 9) END, OLD.sex, OLD.diagnosis_class, -1 WHERE OLD.withdrawn = 0
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
        SELECT 'onset', COALESCE(OLD.onset_date, ''), OLD.prefecture_code, CASE WHEN OLD.age >= 90 THEN '90+' ELSE printf('%d-%d', (OLD.age / 10) * 10, (OLD.age / 10) * 10 + 9) END, OLD.sex, OLD.diagnosis_class, -1 WHERE OLD.withdrawn = 0
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO current_counts (prefecture_code, age_band, sex, diagnosis_class, cases, active, hospitalised, severe, deceased, released)
        SELECT OLD.prefecture_code, CASE WHEN OLD.age >= 90 THEN '90+' ELSE printf('%d-%d', (OLD.age / 10) * 10, (OLD.age / 10) * 10 + 9) END, OLD.sex, OLD.diagnosis_class, -1,
               -(OLD.status NOT IN ('released', 'deceased') AND OLD.deceased = 0), -OLD.hospitalised, -OLD.severe,
               -OLD.deceased, -(OLD.status = 'released') WHERE OLD.withdrawn = 0
        ON CONFLICT DO UPDATE SET cases = cases + excluded.cases, active = active + excluded.active,
            hospitalised = hospitalised + excluded.hospitalised, severe = severe + excluded.severe,
            deceased = deceased + excluded.deceased, released = released + excluded.released;
    INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
        SELECT 'report', NEW.report_date, NEW.prefecture_code, CASE WHEN NEW.age >= 90 THEN '90+' ELSE printf('%d-%d', (NEW.age / 10) * 10, (NEW.age / 10) * 10 + 9) END, NEW.sex, NEW.diagnosis_class, 1 WHERE NEW.withdrawn = 0
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
        SELECT 'diagnosis', COALESCE(NEW.diagnosis_date, ''), NEW.prefecture_code, CASE WHEN NEW.age >= 90 THEN '90+' ELSE printf('%d-%d', (NEW.age / 10) * 10, (NEW.age / 10) * 10 + 9) END, NEW.sex, NEW.diagnosis_class, 1 WHERE NEW.withdrawn = 0
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
        SELECT 'onset', COALESCE(NEW.onset_date, ''), NEW.prefecture_code, CASE WHEN NEW.age >= 90 THEN '90+' ELSE printf('%d-%d', (NEW.age / 10) * 10, (NEW.age / 10) * 10 + 9) END, NEW.sex, NEW.diagnosis_class, 1 WHERE NEW.withdrawn = 0
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO current_counts (prefecture_code, age_band, sex, diagnosis_class, cases, active, hospitalised, severe, deceased, released)
        SELECT NEW.prefecture_code, CASE WHEN NEW.age >= 90 THEN '90+' ELSE printf('%d-%d', (NEW.age / 10) * 10, (NEW.age / 10) * 10 + 9) END, NEW.sex, NEW.diagnosis_class, 1,
               (NEW.status NOT IN ('released', 'deceased') AND NEW.deceased = 0), NEW.hospitalised, NEW.severe,
               NEW.deceased, (NEW.status = 'released') WHERE NEW.withdrawn = 0
        ON CONFLICT DO UPDATE SET cases = cases + excluded.cases, active = active + excluded.active,
            hospitalised = hospitalised + excluded.hospitalised, severe = severe + excluded.severe,
            deceased = deceased + excluded.deceased, released = released + excluded.released;
END;

CREATE TRIGGER statutory_reports_counted_on_delete AFTER DELETE ON statutory_reports
BEGIN
    INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
        SELECT 'report', OLD.report_date, OLD.prefecture_code, CASE WHEN OLD.age >= 90 THEN '90+' ELSE printf('%d-%d', (OLD.age / 10) * 10, (OLD.age / 10) * 10 + 9) END, OLD.sex, OLD.diagnosis_class, -1 WHERE OLD.withdrawn = 0
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
        SELECT 'diagnosis', COALESCE(OLD.diagnosis_date, ''), OLD.prefecture_code, CASE WHEN OLD.age >= 90 THEN '90+' ELSE printf('%d-%d', (OLD.age / 10) * 10, (OLD.age / 10) * 10 + 9) END, OLD.sex, OLD.diagnosis_class, -1 WHERE OLD.withdrawn = 0
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO daily_counts (basis, day, prefecture_code, age_band, sex, diagnosis_class, n)
        SELECT 'onset', COALESCE(OLD.onset_date, ''), OLD.prefecture_code, CASE WHEN OLD.age >= 90 THEN '90+' ELSE printf('%d-%d', (OLD.age / 10) * 10, (OLD.age / 10) * 10 + 9) END, OLD.sex, OLD.diagnosis_class, -1 WHERE OLD.withdrawn = 0
        ON CONFLICT DO UPDATE SET n = n + excluded.n;
    INSERT INTO current_counts (prefecture_code, age_band, sex, diagnosis_class, cases, active, hospitalised, severe, deceased, released)
        SELECT OLD.prefecture_code, CASE WHEN OLD.age >= 90 THEN '90+' ELSE printf('%d-%d', (OLD.age / 10) * 10, (OLD.age / 10) * 10 + 9) END, OLD.sex, OLD.diagnosis_class, -1,
               -(OLD.status NOT IN ('released', 'deceased') AND OLD.deceased = 0), -OLD.hospitalised, -OLD.severe,
               -OLD.deceased, -(OLD.status = 'released') WHERE OLD.withdrawn = 0
        ON CONFLICT DO UPDATE SET cases = cases + excluded.cases, active = active + excluded.active,
            hospitalised = hospitalised + excluded.hospitalised, severe = severe + excluded.severe,
            deceased = deceased + excluded.deceased, released = released + excluded.released;
END;
