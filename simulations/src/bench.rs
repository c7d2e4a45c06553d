//! `renkei bench`: how fast a centre, the federation and the national node
//! really are, measured on real node processes with durable writes and
//! mutual TLS. Prints a table and can write it as JSON.

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::nodes::Federation;
use crate::scenario::{CentreSpec, Load, Scenario};

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub target: String,
    pub detail: String,
}

/// Sizes: the full run, or a tiny one that only proves the harness works.
pub struct Sizes {
    pub ingest: usize,
    pub clients: usize,
    pub cases_for_reads: usize,
    pub reads: usize,
    pub reports_for_stats: usize,
    /// Reports queued for the catch-up (ingested ones, topped up).
    pub catch_up: usize,
    /// Centres sending to the national node at once, and how many reports.
    pub virtual_centres: usize,
    pub national_reports: usize,
    /// Messages sent each way in the QUIC + postcard / HTTPS + JSON comparison.
    pub wire_messages: usize,
}

impl Sizes {
    pub fn full() -> Self {
        Self {
            ingest: 20_000,
            clients: 32,
            cases_for_reads: 300_000,
            reads: 200,
            reports_for_stats: 1_000_000,
            catch_up: 100_000,
            virtual_centres: 470,
            national_reports: 261_029,
            wire_messages: 50_000,
        }
    }
    pub fn quick() -> Self {
        Self {
            ingest: 200,
            clients: 8,
            cases_for_reads: 2_000,
            reads: 20,
            reports_for_stats: 10_000,
            catch_up: 500,
            virtual_centres: 5,
            national_reports: 300,
            wire_messages: 200,
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn rss_kib(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return 0.0 };
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0.0)
}

fn scenario() -> Scenario {
    let centre = |id: &str, code: &str| CentreSpec {
        id: id.into(),
        name_ja: id.into(),
        name_en: id.into(),
        municipality: code.into(),
        population: 1.0,
    };
    Scenario {
        name: "bench".into(),
        duration: Duration::from_secs(1),
        compression: 1.0,
        seed: 1,
        centre: vec![centre("hc-13103", "131032"), centre("hc-13104", "131041")],
        generate: None,
        load: Load {
            cases_per_day: vec![0.0],
            transfer_rate: 0.0,
            share_rate: 0.0,
            update_rate: 0.0,
        },
        fault: Vec::new(),
    }
}

async fn timed_gets(
    fed: &Federation,
    i: usize,
    token: &str,
    paths: Vec<String>,
    clients: usize,
) -> Vec<f64> {
    let mut ms: Vec<f64> = futures_util::stream::iter(paths)
        .map(|p| async move {
            let t = Instant::now();
            let r = fed.http.get(fed.url(i, &p)).bearer_auth(token).send().await;
            let ok = r.is_ok_and(|r| r.status().is_success());
            ok.then(|| t.elapsed().as_secs_f64() * 1000.0)
        })
        .buffer_unordered(clients)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    ms.sort_by(f64::total_cmp);
    ms
}

/// Runs every benchmark; `out` holds the federation while it runs.
pub async fn run(renkei: &Path, out: &Path, sizes: &Sizes) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    let mut fed = Federation::start_with_virtual(
        renkei,
        &out.join("federation"),
        &scenario(),
        sizes.virtual_centres,
    )
    .await?;
    let (national, minato) = (fed.index("national"), fed.index("hc-13103"));
    let staff = fed.nodes[minato].staff.clone().unwrap_or_default();
    figures.push(Figure {
        name: "resident memory, idle centre".into(),
        value: rss_kib(fed.pid(minato)) / 1024.0,
        unit: "MiB".into(),
        target: "—".into(),
        detail: "VmRSS of the node process".into(),
    });

    // 1. Centre ingest, with the national node down so every report queues (used by 4).
    fed.kill_node(national).await;
    let started = Instant::now();
    let peak_rss = std::sync::Arc::new(std::sync::Mutex::new(0.0f64));
    let pid = fed.pid(minato);
    let watcher = {
        let peak = peak_rss.clone();
        tokio::spawn(async move {
            loop {
                let r = rss_kib(pid);
                {
                    let mut p = peak.lock().unwrap();
                    *p = p.max(r);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let fed_ref = &fed;
    let staff_ref = &staff;
    let mut latencies: Vec<f64> = futures_util::stream::iter(0..sizes.ingest)
        .map(|n| async move {
            let body = json!({"disease": "covid-19", "diagnosis_class": "confirmed", "name": format!("性能 {n}"), "name_kana": "セイノウ",
                "sex": "female", "date_of_birth": "1980-04-01", "place_of_stay": {"municipality_code": "131032", "address": "港区"},
                "tests": [{"method": "pcr", "specimen": "saliva", "collected_on": "2026-11-01", "result": "positive"}]});
            let t = Instant::now();
            let r = fed_ref.http.post(fed_ref.url(minato, "/api/v1/cases")).bearer_auth(staff_ref).json(&body).send().await;
            r.is_ok_and(|r| r.status().is_success()).then(|| t.elapsed().as_secs_f64() * 1000.0)
        })
        .buffer_unordered(sizes.clients)
        .filter_map(|x| async move { x })
        .collect()
        .await;
    let ingest_secs = started.elapsed().as_secs_f64();
    watcher.abort();
    latencies.sort_by(f64::total_cmp);
    let accepted = latencies.len();
    figures.push(Figure {
        name: format!("centre ingest, {} clients", sizes.clients),
        value: accepted as f64 / ingest_secs,
        unit: "notifications/s".into(),
        target: "≥ 2,000/s".into(),
        detail: format!(
            "{accepted} in {ingest_secs:.1} s; p50 {:.1} ms, p99 {:.1} ms (target < 50 ms)",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        ),
    });
    figures.push(Figure {
        name: "resident memory, centre under load".into(),
        value: *peak_rss.lock().unwrap() / 1024.0,
        unit: "MiB".into(),
        target: "—".into(),
        detail: "peak VmRSS during ingest".into(),
    });

    // 4. Catch-up: the queued reports (topped up to the size asked for)
    // drain when the national node returns.
    let db = fed.nodes[minato].database.clone();
    let queued = accepted.max(sizes.catch_up);
    if queued > accepted {
        fed.stop_node(minato).await;
        crate::seed::queued_reports(&db, "national", queued - accepted).await?;
        fed.start_node(minato).await?;
    }
    fed.start_node(national).await?;
    let t = Instant::now();
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(SqliteConnectOptions::new().filename(&db).read_only(true))
        .await?;
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
                .fetch_one(&pool)
                .await?;
        if pending == 0 {
            break;
        }
        anyhow::ensure!(
            t.elapsed() < Duration::from_secs(600),
            "the outbox did not drain in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;
    let drain = t.elapsed().as_secs_f64();
    figures.push(Figure {
        name: "catch-up after the national node returns".into(),
        value: drain,
        unit: "s".into(),
        target: "100,000 in < 30 s".into(),
        detail: format!(
            "{queued} queued reports delivered at {:.0}/s (one centre, windows of 64 in flight)",
            queued as f64 / drain
        ),
    });

    // 3. National ingest from many centres at once, then their reconnection
    // after a national restart.
    let template: Vec<u8> = {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(SqliteConnectOptions::new().filename(&db).read_only(true))
            .await?;
        let t = sqlx::query_scalar(
            "SELECT envelope FROM outbox WHERE kind = 'statutory_report' LIMIT 1",
        )
        .fetch_one(&pool)
        .await?;
        pool.close().await;
        t
    };
    let template = renkei_federation::Envelope::decode(&template)?;
    let senders = crate::bench_national::senders(&fed)?;
    let (accepted, secs) =
        crate::bench_national::ingest(&senders, &template, sizes.national_reports).await;
    anyhow::ensure!(
        accepted == sizes.national_reports,
        "the national node took {accepted} of {} reports",
        sizes.national_reports
    );
    figures.push(Figure {
        name: format!("national ingest from {} centres", senders.centres.len()),
        value: accepted as f64 / secs,
        unit: "reports/s".into(),
        target: "≥ 10,000/s".into(),
        detail: format!(
            "{accepted} reports in {secs:.1} s (target: 261,029 in < 30 s); QUIC + mutual TLS, {} in flight per centre",
            crate::bench_national::WINDOW
        ),
    });
    // 5. The same stream over QUIC + postcard and over HTTPS + JSON.
    let vc = &fed.virtual_centres[0];
    let wire = crate::bench_wire::compare(
        &fed.dir,
        (&vc.certificate, &vc.key),
        &template,
        sizes.wire_messages,
        crate::bench_national::WINDOW,
    )
    .await?;
    figures.push(Figure {
        name: "QUIC + postcard vs HTTPS + JSON (same stream)".into(),
        value: wire.quic_per_second / wire.https_per_second,
        unit: "× (ratio)".into(),
        target: "reported".into(),
        detail: format!(
            "{} messages each way, {} in flight, mutual TLS both: QUIC {:.0}/s, HTTPS/1.1 {:.0}/s; a report is {} bytes in postcard, {} in JSON",
            wire.messages,
            crate::bench_national::WINDOW,
            wire.quic_per_second,
            wire.https_per_second,
            wire.postcard_bytes,
            wire.json_bytes
        ),
    });

    fed.kill_node(national).await;
    fed.start_node(national).await?;
    let back = crate::bench_national::reconnect(&senders, &template).await?;
    figures.push(Figure {
        name: format!("{} centres reconnect after a national restart", senders.centres.len()),
        value: back,
        unit: "s".into(),
        target: "< 10 s".into(),
        detail: "from the restarted node answering HTTP until every centre has delivered a report again (retry every 100 ms)".into(),
    });
    for (_, t) in &senders.centres {
        t.shutdown().await;
    }
    drop(senders);

    // 2. Case list and case page at scale: the store is filled directly.
    fed.stop_node(minato).await;
    let ids = crate::seed::cases(&db, sizes.cases_for_reads.saturating_sub(accepted)).await?;
    fed.start_node(minato).await?;
    let list = timed_gets(
        &fed,
        minato,
        &staff,
        (0..sizes.reads)
            .map(|_| "/api/v1/cases?limit=50".to_string())
            .collect(),
        4,
    )
    .await;
    figures.push(Figure {
        name: format!("case list at {} cases", sizes.cases_for_reads),
        value: percentile(&list, 0.99),
        unit: "ms p99".into(),
        target: "< 100 ms".into(),
        detail: format!(
            "p50 {:.1} ms; 50 rows a page, each row audited before the answer",
            percentile(&list, 0.5)
        ),
    });
    let pages: Vec<String> = (0..sizes.reads)
        .map(|k| format!("/api/v1/cases/{}", ids[k * 7919 % ids.len()]))
        .collect();
    let page = timed_gets(&fed, minato, &staff, pages, 4).await;
    figures.push(Figure {
        name: format!("case page at {} cases", sizes.cases_for_reads),
        value: percentile(&page, 0.99),
        unit: "ms p99".into(),
        target: "< 100 ms".into(),
        detail: format!("p50 {:.1} ms", percentile(&page, 0.5)),
    });

    // 6. Statistics at scale on the national node.
    fed.stop_node(national).await;
    crate::seed::reports(&fed.nodes[national].database, sizes.reports_for_stats).await?;
    fed.start_node(national).await?;
    let ministry = fed.add_user(national, "bench.mhlw", "ministry").await?;
    for (name, path) in [
        (
            "daily by prefecture",
            "/api/v1/stats/daily?by=prefecture&from=2026-09-01&to=2026-11-22",
        ),
        (
            "daily by age band and sex",
            "/api/v1/stats/daily?by=age_band,sex&from=2026-09-01&to=2026-11-22",
        ),
        (
            "current by prefecture",
            "/api/v1/stats/current?by=prefecture",
        ),
    ] {
        let ms = timed_gets(&fed, national, &ministry, vec![path.to_string(); 5], 1).await;
        figures.push(Figure {
            name: format!("statistics at {} reports: {name}", sizes.reports_for_stats),
            value: percentile(&ms, 0.5),
            unit: "ms median".into(),
            target: "< 200 ms at 5,000,000".into(),
            detail: format!("max of 5: {:.0} ms", ms.last().copied().unwrap_or(0.0)),
        });
    }
    fed.shutdown().await;
    Ok(figures)
}

/// Each figure's median over several runs (the runs list the same figures
/// in the same order), with the spread in its detail.
pub fn medians(runs: &[Vec<Figure>]) -> Vec<Figure> {
    let Some(last) = runs.last() else {
        return Vec::new();
    };
    if runs.len() == 1 {
        return last.clone();
    }
    last.iter()
        .enumerate()
        .map(|(i, f)| {
            let mut values: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.get(i))
                .map(|g| g.value)
                .collect();
            values.sort_by(f64::total_cmp);
            let median = if values.len() % 2 == 1 {
                values[values.len() / 2]
            } else {
                (values[values.len() / 2 - 1] + values[values.len() / 2]) / 2.0
            };
            Figure {
                value: median,
                detail: format!(
                    "median of {} runs (min {:.1}, max {:.1}); last run: {}",
                    values.len(),
                    values.first().copied().unwrap_or(0.0),
                    values.last().copied().unwrap_or(0.0),
                    f.detail
                ),
                ..f.clone()
            }
        })
        .collect()
}

pub fn table(figures: &[Figure]) -> String {
    let mut out = format!(
        "{:<48} {:>12} {:<18} {:<22} {}\n",
        "benchmark", "value", "unit", "target", "detail"
    );
    for f in figures {
        out.push_str(&format!(
            "{:<48} {:>12.1} {:<18} {:<22} {}\n",
            f.name, f.value, f.unit, f.target, f.detail
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(value: f64) -> Figure {
        Figure {
            name: "x".into(),
            value,
            unit: "s".into(),
            target: "—".into(),
            detail: "d".into(),
        }
    }

    #[test]
    fn medians_take_the_middle_run_and_show_the_spread() {
        let m = medians(&[vec![fig(3.0)], vec![fig(1.0)], vec![fig(10.0)]]);
        assert_eq!(m[0].value, 3.0);
        assert!(
            m[0].detail
                .starts_with("median of 3 runs (min 1.0, max 10.0)")
        );
        assert_eq!(medians(&[vec![fig(1.0)], vec![fig(2.0)]])[0].value, 1.5);
        assert_eq!(medians(&[vec![fig(4.0)]])[0].detail, "d");
    }
}
