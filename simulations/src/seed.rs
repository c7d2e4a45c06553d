//! Filling a stopped node's database directly, for read benchmarks at scale:
//! many rows per statement, many statements per transaction. These rows skip
//! the command log and the audit trail; they stand in for history.

use std::path::Path;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};
use uuid::Uuid;

async fn open(path: &Path) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal);
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?)
}

const ROWS: usize = 400;

/// Adds `n` cases (with person, tests, status, place of stay) and returns the
/// ids of up to 100,000 cases in the store.
pub async fn cases(db: &Path, n: usize) -> anyhow::Result<Vec<String>> {
    let pool = open(db).await?;
    let mut done = 0;
    while done < n {
        let mut tx = pool.begin().await?;
        for _ in 0..25 {
            let batch = ROWS.min(n - done);
            if batch == 0 {
                break;
            }
            let rows: Vec<(String, String, usize)> = (0..batch)
                .map(|k| {
                    (
                        Uuid::now_v7().to_string(),
                        Uuid::now_v7().to_string(),
                        done + k,
                    )
                })
                .collect();
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new("INSERT INTO persons (id, name, name_kana, sex, date_of_birth) ");
            q.push_values(&rows, |mut b, (_, p, k)| {
                b.push_bind(p.clone())
                    .push_bind(format!("性能 {k}"))
                    .push_bind("セイノウ")
                    .push_bind(if k % 2 == 0 { "male" } else { "female" })
                    .push_bind(format!("{}-04-01", 1940 + k % 80));
            });
            q.build().execute(&mut *tx).await?;
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO cases (id, person_id, disease, diagnosis_class, municipality_code, address, status, entered_by, entered_at) ",
            );
            q.push_values(&rows, |mut b, (c, p, _)| {
                b.push_bind(c.clone())
                    .push_bind(p.clone())
                    .push_bind("covid-19")
                    .push_bind("confirmed")
                    .push_bind("131032")
                    .push_bind("港区")
                    .push_bind("home")
                    .push_bind("seed")
                    .push_bind("2026-11-01T00:00:00.000000Z");
            });
            q.build().execute(&mut *tx).await?;
            for (sql, with_seq) in [
                (
                    "INSERT INTO class_reports (case_id, class, reported_on) ",
                    false,
                ),
                (
                    "INSERT INTO status_history (case_id, seq, status, at, by_user) ",
                    true,
                ),
                (
                    "INSERT INTO place_of_stay_history (case_id, seq, municipality_code, address, at, by_user) ",
                    true,
                ),
                (
                    "INSERT INTO tests (id, case_id, method, specimen, collected_on, result, entered_by, entered_at) ",
                    false,
                ),
            ] {
                let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(sql);
                q.push_values(&rows, |mut b, (c, _, _)| {
                    match (
                        sql.contains("class_reports"),
                        sql.contains("status_history"),
                        sql.contains("place_of_stay"),
                        with_seq,
                    ) {
                        (true, ..) => {
                            b.push_bind(c.clone())
                                .push_bind("confirmed")
                                .push_bind("2026-11-01");
                        }
                        (_, true, ..) => {
                            b.push_bind(c.clone())
                                .push_bind(1)
                                .push_bind("home")
                                .push_bind("2026-11-01T00:00:00.000000Z")
                                .push_bind("seed");
                        }
                        (_, _, true, _) => {
                            b.push_bind(c.clone())
                                .push_bind(1)
                                .push_bind("131032")
                                .push_bind("港区")
                                .push_bind("2026-11-01T00:00:00.000000Z")
                                .push_bind("seed");
                        }
                        _ => {
                            b.push_bind(format!("{c}-t"))
                                .push_bind(c.clone())
                                .push_bind("pcr")
                                .push_bind("saliva")
                                .push_bind("2026-10-31")
                                .push_bind("positive")
                                .push_bind("seed")
                                .push_bind("2026-11-01T00:00:00.000000Z");
                        }
                    }
                });
                q.build().execute(&mut *tx).await?;
            }
            done += batch;
        }
        tx.commit().await?;
    }
    let ids = sqlx::query_scalar("SELECT id FROM cases LIMIT 100000")
        .fetch_all(&pool)
        .await?;
    pool.close().await;
    Ok(ids)
}

/// Adds `n` statutory reports over 83 days, across prefectures, ages and sexes.
pub async fn reports(db: &Path, n: usize) -> anyhow::Result<()> {
    let pool = open(db).await?;
    let codes: Vec<&str> = include_str!("../../node/data/municipalities.csv")
        .lines()
        .filter_map(|l| {
            let mut f = l.split(',');
            let code = f.next()?;
            let _ = f.next()?;
            f.next().filter(|c| !c.is_empty()).map(|_| code)
        })
        .filter(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        .step_by(7)
        .collect();
    let mut done = 0;
    while done < n {
        let mut tx = pool.begin().await?;
        for _ in 0..50 {
            let batch = (ROWS / 2).min(n - done);
            if batch == 0 {
                break;
            }
            let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO statutory_reports (case_id, revision, disease, diagnosis_class, sex, age, municipality_code, prefecture_code, \
                 reporting_centre, responsible_centre, report_date, tests_positive, tests_negative, tests_other, test_methods, status, \
                 hospitalised, severe, deceased, withdrawn, sender, message_id, first_received_at, received_at, first_sent_at, sent_at) ",
            );
            q.push_values(done..done + batch, |mut b, k| {
                let code = codes[k * 31 % codes.len()];
                let day = k % 83;
                let date = time::Date::from_calendar_date(2026, time::Month::September, 1)
                    .expect("a date")
                    + time::Duration::days(day as i64);
                let at = format!("{date}T09:00:00.000000Z");
                b.push_bind(Uuid::now_v7().to_string())
                    .push_bind(1)
                    .push_bind("covid-19")
                    .push_bind("confirmed")
                    .push_bind(if k % 2 == 0 { "male" } else { "female" })
                    .push_bind((k * 37 % 100) as i64)
                    .push_bind(code)
                    .push_bind(&code[..2])
                    .push_bind("hc-seed")
                    .push_bind("hc-seed")
                    .push_bind(date.to_string())
                    .push_bind(1)
                    .push_bind(0)
                    .push_bind(0)
                    .push_bind("pcr")
                    .push_bind(if k % 10 == 0 { "hospitalised" } else { "home" })
                    .push_bind(k % 10 == 0)
                    .push_bind(k % 100 == 0)
                    .push_bind(false)
                    .push_bind(false)
                    .push_bind("hc-seed")
                    .push_bind(Uuid::now_v7().to_string())
                    .push_bind(at.clone())
                    .push_bind(at.clone())
                    .push_bind(at.clone())
                    .push_bind(at);
            });
            q.build().execute(&mut *tx).await?;
            done += batch;
        }
        tx.commit().await?;
    }
    pool.close().await;
    Ok(())
}

/// Adds `n` statutory reports to a stopped centre's outbox for `recipient`,
/// copies of one it already queued with new message and case ids: a backlog
/// as an outage would leave it, for the catch-up benchmark.
pub async fn queued_reports(db: &Path, recipient: &str, n: usize) -> anyhow::Result<()> {
    use renkei_federation::{Body, Envelope};
    let pool = open(db).await?;
    let template: Vec<u8> = sqlx::query_scalar(
        "SELECT envelope FROM outbox WHERE recipient = ? AND kind = 'statutory_report' LIMIT 1",
    )
    .bind(recipient)
    .fetch_one(&pool)
    .await?;
    let template = Envelope::decode(&template)?;
    let mut done = 0;
    while done < n {
        let mut tx = pool.begin().await?;
        let batch = ROWS.min(n - done);
        let rows: Vec<(String, String, Vec<u8>, String)> = (0..batch)
            .map(|_| {
                let mut e = template.clone();
                e.message_id = Uuid::now_v7();
                let case_id = Uuid::now_v7();
                if let Body::StatutoryReport(r) = &mut e.body {
                    r.case_id = case_id;
                }
                let t = time::OffsetDateTime::now_utc();
                let created = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                    t.year(),
                    t.month() as u8,
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second(),
                    t.microsecond()
                );
                (
                    e.message_id.to_string(),
                    case_id.to_string(),
                    e.encode(),
                    created,
                )
            })
            .collect();
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO outbox (message_id, recipient, kind, case_id, envelope, created_at, next_attempt_at) ",
        );
        q.push_values(&rows, |mut b, (m, c, e, at)| {
            b.push_bind(m.clone())
                .push_bind(recipient)
                .push_bind("statutory_report")
                .push_bind(c.clone())
                .push_bind(e.clone())
                .push_bind(at.clone())
                .push_bind(at.clone());
        });
        q.build().execute(&mut *tx).await?;
        tx.commit().await?;
        done += batch;
    }
    pool.close().await;
    Ok(())
}
