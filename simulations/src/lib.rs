//! Scenarios, load generation and fault injection against real Renkei node
//! processes: a federation is started from the `renkei` binary, loaded with
//! synthetic cases, broken as the scenario says (processes killed, links
//! partitioned, packets lost or delayed), healed, and then checked.

pub mod bench;
pub mod bench_national;
pub mod bench_wire;
pub mod nodes;
pub mod relay;
pub mod report;
pub mod scenario;
pub mod seed;

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use nodes::Federation;
use relay::LinkRule;
use scenario::{Fault, Scenario};

/// One observation of the federation while the scenario runs.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Simulated seconds since the start.
    pub t: f64,
    /// Messages waiting in all outboxes.
    pub backlog: i64,
}

/// What a run measured and whether every invariant held.
#[derive(Debug)]
pub struct Outcome {
    pub scenario: String,
    pub cases: usize,
    pub transfers: usize,
    pub shares: usize,
    pub samples: Vec<Sample>,
    pub peak_backlog: i64,
    /// Real seconds from the last fault ending to an empty backlog.
    pub drain_seconds: Option<f64>,
    /// Lag of each report (received − sent, seconds) with its simulated time of receipt.
    pub lags: Vec<(f64, f64)>,
    pub invariants: Vec<(String, Result<(), String>)>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.invariants.iter().all(|(_, r)| r.is_ok())
    }
}

fn progress(done: f64, note: &str) {
    let width = 30;
    let filled = (done.clamp(0.0, 1.0) * width as f64) as usize;
    eprint!(
        "\r[{}{}] {:>3.0}% {note:<40}",
        "#".repeat(filled),
        " ".repeat(width - filled),
        done * 100.0
    );
}

const SURNAMES: &[&str] = &["模擬佐藤", "模擬鈴木", "模擬高橋", "模擬田中"];

/// Runs a scenario file with the `renkei` binary at `renkei`, writing the
/// federation and the report under `out`.
pub async fn run(scenario_path: &Path, renkei: &Path, out: &Path) -> anyhow::Result<Outcome> {
    let scenario = Scenario::load(scenario_path)?;
    let mut fed = Federation::start(renkei, &out.join("federation"), &scenario).await?;
    let result = drive(&scenario, &mut fed).await;
    fed.shutdown().await;
    let mut outcome = result?;
    outcome.invariants = invariants::check(&fed).await;
    report::write(out, &scenario, &outcome)?;
    Ok(outcome)
}

async fn backlog(fed: &Federation) -> i64 {
    let depths = futures_util::stream::iter(0..fed.nodes.len())
        .map(|i| async move {
            let (Some(token), true) = (&fed.nodes[i].admin, fed.is_up(i)) else {
                return 0;
            };
            let Ok(r) = fed
                .http
                .get(fed.url(i, "/api/v1/federation/status"))
                .bearer_auth(token)
                .send()
                .await
            else {
                return 0;
            };
            let Ok(v) = r.json::<Value>().await else {
                return 0;
            };
            v["peers"]
                .as_array()
                .map(|p| {
                    p.iter()
                        .map(|x| x["outbox_depth"].as_i64().unwrap_or(0))
                        .sum::<i64>()
                })
                .unwrap_or(0)
        })
        .buffer_unordered(32)
        .collect::<Vec<i64>>()
        .await;
    depths.into_iter().sum()
}

/// Accepts the offers waiting at every centre that is up.
async fn accept_all(fed: &Federation, centres: &[usize]) {
    futures_util::stream::iter(centres.iter().copied().filter(|c| fed.is_up(*c)))
        .map(|c| accept_offers(fed, c))
        .buffer_unordered(32)
        .collect::<Vec<()>>()
        .await;
}

/// Accepts every offer waiting at a centre, as its staff would.
async fn accept_offers(fed: &Federation, i: usize) {
    let Some(token) = &fed.nodes[i].staff else {
        return;
    };
    let Ok(r) = fed
        .http
        .get(fed.url(i, "/api/v1/transfers?direction=in&state=offered"))
        .bearer_auth(token)
        .send()
        .await
    else {
        return;
    };
    let Ok(v) = r.json::<Value>().await else {
        return;
    };
    for t in v["items"].as_array().into_iter().flatten() {
        let path = format!(
            "/api/v1/transfers/{}/accept",
            t["id"].as_str().unwrap_or_default()
        );
        let _ = fed
            .http
            .post(fed.url(i, &path))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await;
    }
}

/// One notification at centre `i`, and what follows it.
async fn notify(
    fed: &Federation,
    i: usize,
    n: usize,
    municipality: &str,
    update: bool,
    share_to: Option<String>,
    transfer_to: Option<String>,
) -> Option<(usize, String, bool, bool)> {
    let body = json!({
        "disease": "covid-19", "diagnosis_class": "confirmed",
        "name": format!("{} {n}", SURNAMES[n % SURNAMES.len()]), "name_kana": "モギ シミュレーション",
        "sex": if n.is_multiple_of(2) { "female" } else { "male" }, "date_of_birth": format!("{}-0{}-1{}", 1940 + n % 80, 1 + n % 9, n % 9),
        "place_of_stay": {"municipality_code": municipality, "address": format!("模擬住所 {n}")},
        "tests": [{"method": "pcr", "specimen": "saliva", "collected_on": "2026-11-01", "result": "positive"}],
    });
    let token = fed.nodes[i].staff.clone().unwrap_or_default();
    let r = fed
        .http
        .post(fed.url(i, "/api/v1/cases"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let case: Value = r.json().await.ok()?;
    let id = case["id"].as_str()?.to_string();
    if update {
        let _ = fed
            .http
            .put(fed.url(i, &format!("/api/v1/cases/{id}/status")))
            .bearer_auth(&token)
            .json(&json!({"status": "hospitalised"}))
            .send()
            .await;
    }
    let mut shared = false;
    if let Some(to) = share_to {
        let r = fed
            .http
            .post(fed.url(i, &format!("/api/v1/cases/{id}/shares")))
            .bearer_auth(&token)
            .json(&json!({"to": to, "purpose": "follow_up"}))
            .send()
            .await;
        shared = r.is_ok_and(|r| r.status().is_success());
    }
    let mut transferred = false;
    if let Some(to) = transfer_to {
        let r = fed
            .http
            .post(fed.url(i, &format!("/api/v1/cases/{id}/transfer")))
            .bearer_auth(&token)
            .json(&json!({"to": to}))
            .send()
            .await;
        transferred = r.is_ok_and(|r| r.status().is_success());
    }
    Some((i, id, shared, transferred))
}

async fn drive(scenario: &Scenario, fed: &mut Federation) -> anyhow::Result<Outcome> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(scenario.seed);
    let centres: Vec<usize> = (0..fed.nodes.len())
        .filter(|i| !fed.nodes[*i].national)
        .collect();
    let specs = scenario.all_centres();
    let weights: Vec<f64> = specs.iter().map(|c| c.population).collect();
    let total_weight: f64 = weights.iter().sum();
    let wall = scenario.duration.as_secs_f64() / scenario.compression;
    let start = Instant::now();
    let started_utc = time::OffsetDateTime::now_utc();
    let mut last_elapsed = 0.0f64;
    let tick = Duration::from_millis(100);
    let (mut expected, mut created, mut transfers, mut shares) = (0.0f64, 0usize, 0usize, 0usize);
    let mut active = vec![false; scenario.fault.len()];
    let mut samples = Vec::new();
    let mut case_ids: Vec<(usize, String)> = Vec::new();
    // Sampling asks every node; with many nodes, ask less often.
    let sample_every = Duration::from_millis(500.max(fed.nodes.len() as u64 * 5));
    let mut last_sample = Instant::now() - sample_every;
    loop {
        let elapsed = start.elapsed().as_secs_f64();
        let t = (elapsed * scenario.compression).min(scenario.duration.as_secs_f64());
        let sim = Duration::from_secs_f64(t);
        // Faults starting and ending.
        for (k, fault) in scenario.fault.iter().enumerate() {
            let (from, to) = fault.window();
            let should = sim >= from && sim < to;
            if should == active[k] {
                continue;
            }
            active[k] = should;
            match fault {
                Fault::NodeDown { node, .. } => {
                    let i = fed.index(node);
                    if should {
                        fed.kill_node(i).await
                    } else {
                        fed.start_node(i).await?
                    }
                }
                Fault::Partition { between, .. } => {
                    for (a, b) in [(&between[0], &between[1]), (&between[1], &between[0])] {
                        if should {
                            fed.network.set(
                                a,
                                b,
                                LinkRule {
                                    loss: 1.0,
                                    delay: Duration::ZERO,
                                },
                            )
                        } else {
                            fed.network.clear(a, b)
                        }
                    }
                }
                Fault::Link {
                    source,
                    target,
                    loss,
                    delay,
                    ..
                } => {
                    if should {
                        fed.network.set(
                            source,
                            target,
                            LinkRule {
                                loss: *loss,
                                delay: *delay,
                            },
                        )
                    } else {
                        fed.network.clear(source, target)
                    }
                }
            }
        }
        // New cases, spread over the centres by population.
        // Arrivals follow real elapsed time, so a slow loop catches up
        // instead of silently lowering the load.
        // Never past the end: a slow last round must not add arrivals after it.
        let until = elapsed.min(wall);
        expected +=
            scenario.rate_at(sim) / 86_400.0 * (until - last_elapsed) * scenario.compression;
        last_elapsed = until;
        let mut requests = Vec::new();
        while (created + requests.len()) < expected.floor() as usize {
            let mut pick = rng.gen_range(0.0..total_weight);
            let mut c = 0;
            while pick >= weights[c] && c + 1 < weights.len() {
                pick -= weights[c];
                c += 1;
            }
            requests.push(centres[c]);
        }
        // Decide everything random first, then send the tick's requests
        // concurrently, as many doctors would.
        let mut jobs = Vec::new();
        for i in requests {
            created += 1;
            if !fed.is_up(i) {
                continue; // the doctor cannot reach a centre that is down; the case is lost to this run
            }
            let others: Vec<usize> = centres.iter().copied().filter(|c| *c != i).collect();
            let update = rng.gen_bool(scenario.load.update_rate);
            let share_to = rng
                .gen_bool(scenario.load.share_rate)
                .then(|| fed.nodes[others[rng.gen_range(0..others.len())]].id.clone());
            let transfer_to = rng
                .gen_bool(scenario.load.transfer_rate)
                .then(|| fed.nodes[others[rng.gen_range(0..others.len())]].id.clone());
            jobs.push((
                i,
                created,
                specs[i - 1].municipality.clone(),
                update,
                share_to,
                transfer_to,
            ));
        }
        let fed_ref = &*fed;
        let results: Vec<Option<(usize, String, bool, bool)>> = futures_util::stream::iter(jobs)
            .map(
                |(i, n, municipality, update, share_to, transfer_to)| async move {
                    notify(fed_ref, i, n, &municipality, update, share_to, transfer_to).await
                },
            )
            .buffer_unordered(32)
            .collect()
            .await;
        for (i, id, shared, transferred) in results.into_iter().flatten() {
            shares += usize::from(shared);
            transfers += usize::from(transferred);
            case_ids.push((i, id));
        }
        if last_sample.elapsed() >= sample_every {
            last_sample = Instant::now();
            accept_all(fed, &centres).await;
            samples.push(Sample {
                t,
                backlog: backlog(fed).await,
            });
            let faults: Vec<String> = scenario
                .fault
                .iter()
                .zip(&active)
                .filter(|(_, a)| **a)
                .map(|(f, _)| f.describe())
                .collect();
            progress(
                elapsed / wall,
                &if faults.is_empty() {
                    format!("{created} cases")
                } else {
                    faults.join(", ")
                },
            );
        }
        if elapsed >= wall {
            break;
        }
        tokio::time::sleep(tick).await;
    }
    // Heal whatever is still broken, then let the federation drain.
    for (k, fault) in scenario.fault.iter().enumerate() {
        if let (true, Fault::NodeDown { node, .. }) = (active[k], fault) {
            let i = fed.index(node);
            fed.start_node(i).await?;
        }
    }
    let drain_start = Instant::now();
    let deadline = drain_start + Duration::from_secs(120);
    let end_t = scenario.duration.as_secs_f64();
    loop {
        accept_all(fed, &centres).await;
        let b = backlog(fed).await;
        samples.push(Sample {
            t: end_t + drain_start.elapsed().as_secs_f64() * scenario.compression,
            backlog: b,
        });
        let pending: i64 = invariants::open_transfers(fed).await;
        progress(1.0, &format!("draining: {b} waiting"));
        if b == 0 && pending == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the federation did not drain within 120 s ({b} messages, {pending} transfers open)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!();
    // From the last fault ending to the first empty backlog, in real seconds.
    let last_end = scenario
        .fault
        .iter()
        .map(|f| f.window().1.as_secs_f64())
        .reduce(f64::max);
    let drain_seconds = last_end.and_then(|end| {
        samples
            .iter()
            .find(|s| s.t >= end && s.backlog == 0)
            .map(|s| (s.t - end) / scenario.compression)
    });
    let lags = invariants::lags(fed, scenario.compression, started_utc)
        .await
        .unwrap_or_default();
    Ok(Outcome {
        scenario: scenario.name.clone(),
        cases: case_ids.len(),
        transfers,
        shares,
        peak_backlog: samples.iter().map(|s| s.backlog).max().unwrap_or(0),
        samples,
        drain_seconds,
        lags,
        invariants: Vec::new(),
    })
}

pub mod invariants;
