//! National statistics from the statutory reports: daily new cases by date
//! basis and dimensions with 7-day averages, and current counts. Public
//! tables suppress small cells so that no person can be singled out
//! (感染症法 Art. 16(4)).
//!
//! Suppression rules, applied the same way whatever window is asked for:
//! 1. a count from 1 to 9 is hidden;
//! 2. in each margin (the cells of one date, or one measure) whose total is
//!    shown, a single hidden cell would follow from the total: the smallest
//!    shown non-zero cell is hidden too, or the total if there is none;
//! 3. an average is shown only when every count it is made of is shown.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use time::{Date, Duration};

use crate::time_fmt;

/// Counts below this (and above zero) are hidden in public tables.
pub const SMALL_CELL: i64 = 10;
/// The longest window one request may ask for.
pub const MAX_DAYS: i64 = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dimension {
    Prefecture,
    Centre,
    Municipality,
    AgeBand,
    Sex,
    Class,
}

impl Dimension {
    pub const ALL: &'static [Dimension] = &[
        Dimension::Prefecture,
        Dimension::Centre,
        Dimension::Municipality,
        Dimension::AgeBand,
        Dimension::Sex,
        Dimension::Class,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Prefecture => "prefecture",
            Dimension::Centre => "centre",
            Dimension::Municipality => "municipality",
            Dimension::AgeBand => "age_band",
            Dimension::Sex => "sex",
            Dimension::Class => "class",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Dimension::Prefecture => "prefecture_code",
            Dimension::Centre => "responsible_centre",
            Dimension::Municipality => "municipality_code",
            Dimension::AgeBand => {
                "CASE WHEN age >= 90 THEN '90+' ELSE printf('%d-%d', (age / 10) * 10, (age / 10) * 10 + 9) END"
            }
            Dimension::Sex => "sex",
            Dimension::Class => "diagnosis_class",
        }
    }

    /// The column of `daily_counts` / `current_counts` (migration 0006)
    /// holding this dimension, if those tables keep it.
    fn count_column(self) -> Option<&'static str> {
        match self {
            Dimension::Prefecture => Some("prefecture_code"),
            Dimension::AgeBand => Some("age_band"),
            Dimension::Sex => Some("sex"),
            Dimension::Class => Some("diagnosis_class"),
            Dimension::Centre | Dimension::Municipality => None,
        }
    }

    /// Parses `by=` (comma-separated, each at most once).
    pub fn parse_list(text: Option<&str>) -> Result<Vec<Dimension>, String> {
        let mut dims = Vec::new();
        for part in text
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let dim = Dimension::ALL
                .iter()
                .copied()
                .find(|d| d.name() == part)
                .ok_or_else(|| {
                    format!(
                        "`{part}` is not a dimension; use {}",
                        Dimension::ALL
                            .iter()
                            .map(|d| d.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            if dims.contains(&dim) {
                return Err(format!("`{part}` is given twice"));
            }
            dims.push(dim);
        }
        Ok(dims)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateBasis {
    Report,
    Diagnosis,
    Onset,
}

impl DateBasis {
    pub const ALL: &'static [DateBasis] =
        &[DateBasis::Report, DateBasis::Diagnosis, DateBasis::Onset];

    pub fn parse(text: Option<&str>) -> Result<Self, String> {
        let text = text.unwrap_or("report");
        DateBasis::ALL
            .iter()
            .copied()
            .find(|b| b.name() == text)
            .ok_or_else(|| format!("`{text}` is not a date basis; use report, diagnosis or onset"))
    }

    pub fn name(self) -> &'static str {
        match self {
            DateBasis::Report => "report",
            DateBasis::Diagnosis => "diagnosis",
            DateBasis::Onset => "onset",
        }
    }

    fn column(self) -> &'static str {
        match self {
            DateBasis::Report => "report_date",
            DateBasis::Diagnosis => "diagnosis_date",
            DateBasis::Onset => "onset_date",
        }
    }
}

/// One cell of a daily table: a date, the group's values, a count and its
/// 7-day average (`None` where suppressed).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DailyCell {
    pub date: String,
    pub group: Vec<String>,
    pub count: Option<i64>,
    pub avg7: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DailyTotal {
    pub date: String,
    pub count: Option<i64>,
    pub avg7: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DailyTable {
    pub date_basis: &'static str,
    pub from: String,
    pub to: String,
    pub by: Vec<&'static str>,
    pub suppressed: bool,
    /// Non-zero cells only; a group absent on a date had no cases.
    pub cells: Vec<DailyCell>,
    pub totals: Vec<DailyTotal>,
    /// Cases without a date on this basis (e.g. no onset date), not counted above.
    pub undated: Option<i64>,
}

/// Hides small counts in one margin and whatever would reveal them.
pub fn suppress_margin(cells: &mut [Option<i64>], total: &mut Option<i64>) {
    for c in cells.iter_mut() {
        if matches!(c, Some(n) if (1..SMALL_CELL).contains(n)) {
            *c = None;
        }
    }
    if matches!(total, Some(n) if (1..SMALL_CELL).contains(n)) {
        *total = None;
    }
    if total.is_none() {
        return;
    }
    let hidden = cells.iter().filter(|c| c.is_none()).count();
    if hidden == 1 {
        let smallest = cells
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.filter(|n| *n > 0).map(|n| (n, i)))
            .min();
        match smallest {
            Some((_, i)) => cells[i] = None,
            None => *total = None,
        }
    }
}

/// The mean of a 7-day window, if every count in it is shown.
fn avg7(window: &[Option<i64>]) -> Option<f64> {
    let sum: Option<i64> = window.iter().copied().sum();
    sum.map(|s| (s as f64 / 7.0 * 10.0).round() / 10.0)
}

pub async fn daily(
    pool: &SqlitePool,
    basis: DateBasis,
    by: &[Dimension],
    from: Date,
    to: Date,
    suppress: bool,
) -> Result<DailyTable, sqlx::Error> {
    daily_from(pool, basis, by, from, to, suppress, Source::Best).await
}

/// Where a table is computed from: the kept counts when they hold every
/// dimension asked for, or the reports themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Best,
    /// Always the reports: the tests hold the kept counts to it.
    #[cfg(test)]
    Reports,
}

fn use_counts(by: &[Dimension], source: Source) -> bool {
    source == Source::Best && by.iter().all(|d| d.count_column().is_some())
}

async fn daily_from(
    pool: &SqlitePool,
    basis: DateBasis,
    by: &[Dimension],
    from: Date,
    to: Date,
    suppress: bool,
    source: Source,
) -> Result<DailyTable, sqlx::Error> {
    let start = from - Duration::days(6);
    let counts = use_counts(by, source);
    let mut q: QueryBuilder<Sqlite> = if counts {
        let mut q = QueryBuilder::new("SELECT day");
        for d in by {
            q.push(", ").push(d.count_column().unwrap_or_default());
        }
        q.push(", SUM(n) FROM daily_counts WHERE basis = ")
            .push_bind(basis.name())
            .push(" AND day BETWEEN ");
        q
    } else {
        let mut q = QueryBuilder::new(format!("SELECT {}", basis.column()));
        for d in by {
            q.push(", ").push(d.sql());
        }
        q.push(format!(
            ", COUNT(*) FROM statutory_reports WHERE withdrawn = 0 AND {} BETWEEN ",
            basis.column()
        ));
        q
    };
    q.push_bind(time_fmt::date(start))
        .push(" AND ")
        .push_bind(time_fmt::date(to));
    q.push(" GROUP BY 1");
    for i in 0..by.len() {
        q.push(format!(", {}", i + 2));
    }
    if counts {
        q.push(" HAVING SUM(n) > 0");
    }
    let rows = q.build().fetch_all(pool).await?;
    let days: Vec<Date> = (0..=(to - start).whole_days())
        .map(|i| start + Duration::days(i))
        .collect();
    let mut series: BTreeMap<Vec<String>, Vec<i64>> = BTreeMap::new();
    for row in rows {
        let date = time_fmt::parse_date(row.get::<&str, _>(0)).unwrap_or(start);
        let group: Vec<String> = (0..by.len())
            .map(|i| row.get::<Option<String>, _>(i + 1).unwrap_or_default())
            .collect();
        let count: i64 = row.get(by.len() + 1);
        let index = (date - start).whole_days() as usize;
        series.entry(group).or_insert_with(|| vec![0; days.len()])[index] += count;
    }
    // Shown values per day, over the whole extended window.
    let groups: Vec<Vec<String>> = series.keys().cloned().collect();
    let mut shown: Vec<Vec<Option<i64>>> = groups
        .iter()
        .map(|g| series[g].iter().map(|n| Some(*n)).collect())
        .collect();
    let mut totals: Vec<Option<i64>> = (0..days.len())
        .map(|i| Some(series.values().map(|s| s[i]).sum()))
        .collect();
    if suppress {
        for day in 0..days.len() {
            let mut margin: Vec<Option<i64>> = shown.iter().map(|s| s[day]).collect();
            suppress_margin(&mut margin, &mut totals[day]);
            for (g, value) in margin.into_iter().enumerate() {
                shown[g][day] = value;
            }
        }
    }
    let first = 6;
    let mut cells = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        for day in first..days.len() {
            if series[group][day] == 0 {
                continue;
            }
            cells.push(DailyCell {
                date: time_fmt::date(days[day]),
                group: group.clone(),
                count: shown[g][day],
                avg7: avg7(&shown[g][day - 6..=day]),
            });
        }
    }
    cells.sort_by(|a, b| (&a.date, &a.group).cmp(&(&b.date, &b.group)));
    let total_rows = (first..days.len())
        .map(|day| DailyTotal {
            date: time_fmt::date(days[day]),
            count: totals[day],
            avg7: avg7(&totals[day - 6..=day]),
        })
        .collect();
    let undated: i64 = if counts {
        sqlx::query_scalar(
            "SELECT COALESCE(SUM(n), 0) FROM daily_counts WHERE basis = ? AND day = ''",
        )
        .bind(basis.name())
        .fetch_one(pool)
        .await?
    } else {
        sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM statutory_reports WHERE withdrawn = 0 AND {} IS NULL",
            basis.column()
        ))
        .fetch_one(pool)
        .await?
    };
    let mut undated = Some(undated);
    if suppress {
        suppress_margin(&mut [], &mut undated);
    }
    Ok(DailyTable {
        date_basis: basis.name(),
        from: time_fmt::date(from),
        to: time_fmt::date(to),
        by: by.iter().map(|d| d.name()).collect(),
        suppressed: suppress,
        cells,
        totals: total_rows,
        undated,
    })
}

/// The current picture per group.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CurrentRow {
    pub group: Vec<String>,
    pub cases: Option<i64>,
    pub active: Option<i64>,
    pub hospitalised: Option<i64>,
    pub severe: Option<i64>,
    pub deceased: Option<i64>,
    pub released: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CurrentTable {
    pub by: Vec<&'static str>,
    pub suppressed: bool,
    pub rows: Vec<CurrentRow>,
    pub total: CurrentRow,
}

pub async fn current(
    pool: &SqlitePool,
    by: &[Dimension],
    suppress: bool,
) -> Result<CurrentTable, sqlx::Error> {
    current_from(pool, by, suppress, Source::Best).await
}

async fn current_from(
    pool: &SqlitePool,
    by: &[Dimension],
    suppress: bool,
    source: Source,
) -> Result<CurrentTable, sqlx::Error> {
    let counts = use_counts(by, source);
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT ");
    for d in by {
        q.push(if counts {
            d.count_column().unwrap_or_default()
        } else {
            d.sql()
        })
        .push(", ");
    }
    if counts {
        q.push(
            "COALESCE(SUM(cases), 0), SUM(active), SUM(hospitalised), SUM(severe), SUM(deceased), SUM(released) FROM current_counts",
        );
    } else {
        q.push(
            "COUNT(*), SUM(status NOT IN ('released', 'deceased') AND deceased = 0), SUM(hospitalised), SUM(severe), \
             SUM(deceased), SUM(status = 'released') FROM statutory_reports WHERE withdrawn = 0",
        );
    }
    if !by.is_empty() {
        q.push(" GROUP BY ");
        q.push(
            (1..=by.len())
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    let rows = q.build().fetch_all(pool).await?;
    let n = by.len();
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut measures: Vec<[Option<i64>; 5]> = Vec::new();
    let mut cases: Vec<Option<i64>> = Vec::new();
    for row in &rows {
        let count: i64 = row.get(n);
        if count == 0 {
            continue;
        }
        groups.push(
            (0..n)
                .map(|i| row.get::<Option<String>, _>(i).unwrap_or_default())
                .collect(),
        );
        cases.push(Some(count));
        measures.push([1, 2, 3, 4, 5].map(|i| Some(row.get::<Option<i64>, _>(n + i).unwrap_or(0))));
    }
    let mut total_cases = Some(cases.iter().flatten().sum());
    let mut totals: [Option<i64>; 5] =
        [0, 1, 2, 3, 4].map(|m| Some(measures.iter().map(|r| r[m].unwrap_or(0)).sum()));
    if suppress {
        suppress_margin(&mut cases, &mut total_cases);
        for m in 0..5 {
            let mut column: Vec<Option<i64>> = measures.iter().map(|r| r[m]).collect();
            suppress_margin(&mut column, &mut totals[m]);
            for (r, v) in column.into_iter().enumerate() {
                measures[r][m] = v;
            }
        }
    }
    let row = |group: Vec<String>, cases: Option<i64>, m: [Option<i64>; 5]| CurrentRow {
        group,
        cases,
        active: m[0],
        hospitalised: m[1],
        severe: m[2],
        deceased: m[3],
        released: m[4],
    };
    Ok(CurrentTable {
        by: by.iter().map(|d| d.name()).collect(),
        suppressed: suppress,
        rows: groups
            .into_iter()
            .zip(cases)
            .zip(measures)
            .map(|((g, c), m)| row(g, c, m))
            .collect(),
        total: row(Vec::new(), total_cases, totals),
    })
}

/// Reporting lag per centre: from the change being committed at the centre
/// to the report being committed here.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CentreTimeliness {
    pub centre: String,
    pub reports_last_7_days: i64,
    pub median_lag_seconds: Option<f64>,
    pub p90_lag_seconds: Option<f64>,
    pub last_received_at: Option<String>,
    /// `ok`, `behind` (90th percentile lag over an hour) or `silent` (nothing for a day).
    pub state: &'static str,
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some((sorted[rank - 1] * 10.0).round() / 10.0)
}

pub async fn timeliness(
    pool: &SqlitePool,
    centres: &[String],
    now: time::OffsetDateTime,
) -> Result<Vec<CentreTimeliness>, sqlx::Error> {
    let since = time_fmt::instant(now - Duration::days(7));
    let rows = sqlx::query(
        "SELECT responsible_centre, (julianday(first_received_at) - julianday(first_sent_at)) * 86400.0 \
         FROM statutory_reports WHERE first_received_at >= ? AND first_sent_at IS NOT NULL",
    )
    .bind(&since)
    .fetch_all(pool)
    .await?;
    let last: Vec<(String, String)> = sqlx::query_as(
        "SELECT responsible_centre, MAX(received_at) FROM statutory_reports GROUP BY 1",
    )
    .fetch_all(pool)
    .await?;
    let mut lags: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for row in rows {
        lags.entry(row.get(0))
            .or_default()
            .push(row.get::<f64, _>(1).max(0.0));
    }
    let mut names: BTreeSet<String> = centres.iter().cloned().collect();
    names.extend(last.iter().map(|(c, _)| c.clone()));
    let day_ago = time_fmt::instant(now - Duration::days(1));
    Ok(names
        .into_iter()
        .map(|centre| {
            let mut l = lags.remove(&centre).unwrap_or_default();
            l.sort_by(f64::total_cmp);
            let last_received_at = last
                .iter()
                .find(|(c, _)| *c == centre)
                .map(|(_, t)| t.clone());
            let p90 = percentile(&l, 0.9);
            let state = if last_received_at.as_ref().is_none_or(|t| *t < day_ago) {
                "silent"
            } else if p90.is_some_and(|p| p > 3600.0) {
                "behind"
            } else {
                "ok"
            };
            CentreTimeliness {
                reports_last_7_days: l.len() as i64,
                median_lag_seconds: percentile(&l, 0.5),
                p90_lag_seconds: p90,
                last_received_at,
                state,
                centre,
            }
        })
        .collect())
}

/// A daily table as CSV: date, the dimensions, count, avg7, suppressed.
pub fn daily_csv(table: &DailyTable) -> String {
    let mut out = String::from("date");
    for d in &table.by {
        out.push(',');
        out.push_str(d);
    }
    out.push_str(",count,avg7,suppressed\n");
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let num = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let avg = |a: Option<f64>| a.map(|a| format!("{a:.1}")).unwrap_or_default();
    for c in &table.cells {
        out.push_str(&c.date);
        for g in &c.group {
            out.push(',');
            out.push_str(&field(g));
        }
        out.push_str(&format!(
            ",{},{},{}\n",
            num(c.count),
            avg(c.avg7),
            c.count.is_none()
        ));
    }
    for t in &table.totals {
        out.push_str(&t.date);
        for _ in &table.by {
            out.push_str(",total");
        }
        out.push_str(&format!(
            ",{},{},{}\n",
            num(t.count),
            avg(t.avg7),
            t.count.is_none()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept counts answer exactly as the reports do, through new
    /// reports, higher revisions that move a case between days, classes,
    /// prefectures and statuses, withdrawals, and deletions.
    #[tokio::test]
    async fn kept_counts_match_the_reports() {
        use renkei_federation::wire::{StatutoryReport, TestsSummary};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("national.db");
        let pool = crate::store::open(&path).await.unwrap();
        let mut conn = crate::store::open_writer(&path).await.unwrap();
        let municipalities = ["131032", "011002", "271004", "401307"];
        let statuses = [
            "home",
            "hospitalised",
            "released",
            "deceased",
            "accommodation",
        ];
        let classes = ["confirmed", "asymptomatic_carrier", "suspected"];
        let ids: Vec<uuid::Uuid> = (0..60).map(|_| uuid::Uuid::now_v7()).collect();
        for round in 0..3u32 {
            for (k, id) in ids.iter().enumerate() {
                if (k + round as usize).is_multiple_of(4) && round > 0 {
                    continue; // some cases get no new revision
                }
                let v = k + 7 * round as usize;
                let r = StatutoryReport {
                    case_id: *id,
                    revision: round + 1,
                    disease: "covid-19".into(),
                    diagnosis_class: classes[v % 3].into(),
                    sex: if v.is_multiple_of(2) {
                        "male".into()
                    } else {
                        "female".into()
                    },
                    age: (v * 13 % 100) as u8,
                    municipality_code: municipalities[v % 4].into(),
                    reporting_centre: "hc-13103".into(),
                    responsible_centre: "hc-13103".into(),
                    onset_date: (!v.is_multiple_of(3)).then_some(20261101 + (v % 9) as u32),
                    diagnosis_date: (!v.is_multiple_of(5)).then_some(20261103 + (v % 7) as u32),
                    report_date: 20261105 + (v % 11) as u32,
                    tests: TestsSummary {
                        positive: 1,
                        negative: 0,
                        other: 0,
                        methods: vec!["pcr".into()],
                    },
                    status: statuses[v % 5].into(),
                    hospitalised: v % 5 == 1,
                    severe: v % 10 == 1,
                    deceased: v % 5 == 3,
                    withdrawn: round == 2 && k % 9 == 0,
                };
                let at = "2026-11-20T00:00:00.000000Z";
                crate::reports::store_received(
                    &mut conn,
                    "hc-13103",
                    uuid::Uuid::now_v7(),
                    &r,
                    at,
                    at,
                )
                .await
                .unwrap();
            }
        }
        sqlx::query("DELETE FROM statutory_reports WHERE case_id = ?")
            .bind(ids[5].to_string())
            .execute(&mut conn)
            .await
            .unwrap();
        let (from, to) = (
            time::macros::date!(2026 - 11 - 01),
            time::macros::date!(2026 - 11 - 20),
        );
        let shapes: &[&[Dimension]] = &[
            &[],
            &[Dimension::Prefecture],
            &[Dimension::AgeBand, Dimension::Sex],
            &[Dimension::Class, Dimension::Prefecture],
        ];
        for by in shapes {
            for basis in [DateBasis::Report, DateBasis::Diagnosis, DateBasis::Onset] {
                for suppress in [false, true] {
                    let kept = daily_from(&pool, basis, by, from, to, suppress, Source::Best)
                        .await
                        .unwrap();
                    let raw = daily_from(&pool, basis, by, from, to, suppress, Source::Reports)
                        .await
                        .unwrap();
                    assert_eq!(kept, raw, "{basis:?} by {by:?}");
                    let total: i64 = raw.totals.iter().filter_map(|t| t.count).sum();
                    assert!(
                        suppress || total > 20,
                        "the window holds the reports: {total}"
                    );
                }
            }
            let kept = current_from(&pool, by, false, Source::Best).await.unwrap();
            let raw = current_from(&pool, by, false, Source::Reports)
                .await
                .unwrap();
            assert_eq!(kept, raw, "current by {by:?}");
        }
        assert!(use_counts(&[Dimension::Sex], Source::Best));
        assert!(!use_counts(&[Dimension::Municipality], Source::Best));
    }

    fn run(cells: &[i64], total: i64) -> (Vec<Option<i64>>, Option<i64>) {
        let mut c: Vec<Option<i64>> = cells.iter().map(|n| Some(*n)).collect();
        let mut t = Some(total);
        suppress_margin(&mut c, &mut t);
        (c, t)
    }

    #[test]
    fn small_cells_are_hidden() {
        assert_eq!(
            run(&[12, 0, 30], 42),
            (vec![Some(12), Some(0), Some(30)], Some(42))
        );
        assert_eq!(
            run(&[12, 3, 30, 5], 50),
            (vec![Some(12), None, Some(30), None], Some(50))
        );
    }

    #[test]
    fn a_lone_hidden_cell_takes_the_next_smallest_with_it() {
        // 3 alone would be 45 - 12 - 30: hide 12 as well.
        assert_eq!(
            run(&[12, 3, 30], 45),
            (vec![None, None, Some(30)], Some(45))
        );
        // Zeros are known and do not protect: the smallest non-zero goes.
        assert_eq!(run(&[0, 4, 20], 24), (vec![Some(0), None, None], Some(24)));
    }

    #[test]
    fn when_nothing_else_can_hide_it_the_total_goes() {
        assert_eq!(run(&[0, 4], 4), (vec![Some(0), None], None));
        assert_eq!(run(&[15], 15), (vec![Some(15)], Some(15)));
    }

    #[test]
    fn averages_need_every_count_shown() {
        assert_eq!(avg7(&[Some(7); 7]), Some(7.0));
        assert_eq!(
            avg7(&[Some(7), Some(7), None, Some(7), Some(7), Some(7), Some(7)]),
            None
        );
    }

    #[test]
    fn dimensions_and_bases_parse_strictly() {
        assert_eq!(
            Dimension::parse_list(Some("prefecture,sex")).unwrap(),
            [Dimension::Prefecture, Dimension::Sex]
        );
        assert!(
            Dimension::parse_list(Some("name"))
                .unwrap_err()
                .contains("not a dimension")
        );
        assert!(
            Dimension::parse_list(Some("sex,sex"))
                .unwrap_err()
                .contains("twice")
        );
        assert!(DateBasis::parse(Some("birth")).is_err());
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.0));
    }
}
