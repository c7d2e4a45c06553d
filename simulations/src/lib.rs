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
pub mod rogue;
pub mod scenario;
pub mod seed;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use invariants::Watch;
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
    /// Notifications the load asked for.
    pub due: usize,
    /// Of those, due at a centre that was down: the doctor could not notify.
    pub unreachable: usize,
    /// Notifications a centre took.
    pub cases: usize,
    pub transfers: usize,
    pub shares: usize,
    /// Real seconds from the start until the last notification was answered.
    pub load_seconds: f64,
    /// Real seconds the scenario's duration takes at its compression.
    pub schedule_seconds: f64,
    /// The most notifications sent but not yet answered at once.
    pub peak_waiting: usize,
    /// Real seconds since the start at which each fault began and ended.
    pub fault_times: Vec<(Option<f64>, Option<f64>)>,
    pub samples: Vec<Sample>,
    pub peak_backlog: i64,
    /// Real seconds between two looks at the outboxes.
    pub sample_seconds: f64,
    /// After the fault that ends last: real seconds from its end until the
    /// outboxes were back to their level before it began, and that level.
    pub catch_up: Option<(f64, i64)>,
    /// Lag of each report (received − sent, seconds) with its simulated time of receipt.
    pub lags: Vec<(f64, f64)>,
    pub invariants: Vec<(String, Result<(), String>)>,
    /// What the forged messages of `rogue_centre` faults met, if any ran.
    pub rogue: Option<rogue::RogueTally>,
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
        done.clamp(0.0, 1.0) * 100.0
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
    if let Some(t) = outcome.rogue {
        outcome.invariants.push((
            "no forged message was applied".into(),
            if t.acknowledged == 0 && t.refused + t.held > 0 {
                Ok(())
            } else {
                Err(format!(
                    "{} of {} forged messages acknowledged ({} refused, {} held back)",
                    t.acknowledged, t.sent, t.refused, t.held
                ))
            },
        ));
    }
    report::write(out, &scenario, &outcome)?;
    Ok(outcome)
}

/// One look at the federation: accepts the offers waiting, as each centre's
/// staff would, records the messages waiting in all outboxes as a sample at
/// simulated time `t`, and returns them with the transfers still open.
async fn observe(fed: &Federation, watch: &Watch, t: f64, samples: &mut Vec<Sample>) -> (i64, i64) {
    let seen = watch.look().await;
    let offered: Vec<usize> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.offers_in > 0)
        .map(|(i, _)| i)
        .collect();
    accept_all(fed, &offered).await;
    let backlog = seen.iter().map(|s| s.pending).sum();
    samples.push(Sample { t, backlog });
    (backlog, seen.iter().map(|s| s.open_transfers).sum())
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

/// What doctors need to reach the centres: addresses and staff sessions.
/// It is moved into the task that sends notifications, so the scenario's
/// clock (faults, samples) keeps time however far the load falls behind.
#[derive(Clone)]
struct Desk {
    http: reqwest::Client,
    bases: Arc<Vec<String>>,
    tokens: Arc<Vec<String>>,
}

impl Desk {
    fn new(fed: &Federation) -> Self {
        Desk {
            http: fed.http.clone(),
            bases: Arc::new(
                fed.nodes
                    .iter()
                    .map(|n| format!("http://{}", n.http))
                    .collect(),
            ),
            tokens: Arc::new(
                fed.nodes
                    .iter()
                    .map(|n| n.staff.clone().unwrap_or_default())
                    .collect(),
            ),
        }
    }

    fn url(&self, i: usize, path: &str) -> String {
        format!("{}{path}", self.bases[i])
    }
}

/// One notification due: the centre, its number, and what follows it.
struct Job {
    centre: usize,
    n: usize,
    municipality: String,
    update: bool,
    share_to: Option<String>,
    transfer_to: Option<String>,
}

/// What the doctors managed.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    shares: usize,
    transfers: usize,
}

/// How many notifications are sent at once, as many doctors would.
const DOCTORS: usize = 32;

/// One notification, and what follows it; whether it was shared and offered
/// for transfer, or `None` if the centre did not take it.
async fn notify(desk: &Desk, job: Job) -> Option<(bool, bool)> {
    let Job {
        centre: i,
        n,
        municipality,
        update,
        share_to,
        transfer_to,
    } = job;
    let body = json!({
        "disease": "covid-19", "diagnosis_class": "confirmed",
        "name": format!("{} {n}", SURNAMES[n % SURNAMES.len()]), "name_kana": "モギ シミュレーション",
        "sex": if n.is_multiple_of(2) { "female" } else { "male" }, "date_of_birth": format!("{}-0{}-1{}", 1940 + n % 80, 1 + n % 9, n % 9),
        "place_of_stay": {"municipality_code": municipality, "address": format!("模擬住所 {n}")},
        "tests": [{"method": "pcr", "specimen": "saliva", "collected_on": "2026-11-01", "result": "positive"}],
    });
    let token = &desk.tokens[i];
    let r = desk
        .http
        .post(desk.url(i, "/api/v1/cases"))
        .bearer_auth(token)
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
        let _ = desk
            .http
            .put(desk.url(i, &format!("/api/v1/cases/{id}/status")))
            .bearer_auth(token)
            .json(&json!({"status": "hospitalised"}))
            .send()
            .await;
    }
    let mut shared = false;
    if let Some(to) = share_to {
        let r = desk
            .http
            .post(desk.url(i, &format!("/api/v1/cases/{id}/shares")))
            .bearer_auth(token)
            .json(&json!({"to": to, "purpose": "follow_up"}))
            .send()
            .await;
        shared = r.is_ok_and(|r| r.status().is_success());
    }
    let mut transferred = false;
    if let Some(to) = transfer_to {
        let r = desk
            .http
            .post(desk.url(i, &format!("/api/v1/cases/{id}/transfer")))
            .bearer_auth(token)
            .json(&json!({"to": to}))
            .send()
            .await;
        transferred = r.is_ok_and(|r| r.status().is_success());
    }
    Some((shared, transferred))
}

/// Starts the doctors: a task that sends every job it is given, `DOCTORS`
/// at a time, counting down `waiting` as each is answered.
fn doctors(
    desk: Desk,
    jobs: tokio::sync::mpsc::UnboundedReceiver<Job>,
    waiting: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<Tally> {
    tokio::spawn(async move {
        futures_util::stream::unfold(jobs, |mut jobs| async move {
            jobs.recv().await.map(|job| (job, jobs))
        })
        .map(|job| {
            let (desk, waiting) = (desk.clone(), waiting.clone());
            async move {
                let answer = notify(&desk, job).await;
                waiting.fetch_sub(1, Ordering::Relaxed);
                answer
            }
        })
        .buffer_unordered(DOCTORS)
        .fold(Tally::default(), |mut tally, answer| async move {
            if let Some((shared, transferred)) = answer {
                tally.cases += 1;
                tally.shares += usize::from(shared);
                tally.transfers += usize::from(transferred);
            }
            tally
        })
        .await
    })
}

/// Puts a fault in place or lifts it.
async fn set_fault(
    fed: &mut Federation,
    rogues: &mut rogue::Rogues,
    seed: u64,
    fault: &Fault,
    on: bool,
) -> anyhow::Result<()> {
    match fault {
        Fault::RogueCentre { node, .. } => {
            if on {
                rogues.start(fed, node, seed).await?
            } else {
                rogues.stop(node).await
            }
        }
        Fault::NodeDown { node, .. } => {
            let i = fed.index(node);
            if on {
                fed.kill_node(i).await
            } else {
                fed.start_node(i).await?
            }
        }
        Fault::Partition { between, .. } => {
            for (a, b) in [(&between[0], &between[1]), (&between[1], &between[0])] {
                if on {
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
            if on {
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
    Ok(())
}

/// The faults' state as the scenario's clock moves from `before` to `now`
/// (simulated): each fault starts and ends when its window says, and a window
/// that began and ended between two looks still happens. Records the real
/// second each fault began and ended.
struct Faults {
    active: Vec<bool>,
    times: Vec<(Option<f64>, Option<f64>)>,
}

impl Faults {
    fn new(scenario: &Scenario) -> Self {
        Faults {
            active: vec![false; scenario.fault.len()],
            times: vec![(None, None); scenario.fault.len()],
        }
    }

    /// What must change as the clock moves from `before` to `now`: each
    /// (fault, on) in the order to do it. Records the change as done at the
    /// real second `real`.
    fn advance(
        &mut self,
        scenario: &Scenario,
        before: Duration,
        now: Duration,
        real: f64,
    ) -> Vec<(usize, bool)> {
        let mut changes = Vec::new();
        for (k, fault) in scenario.fault.iter().enumerate() {
            let (from, to) = fault.window();
            let should = now >= from && now < to;
            let missed = !self.active[k] && !should && before < from && now >= to;
            if missed {
                changes.push((k, true));
                self.times[k].0 = Some(real);
            }
            if missed || should != self.active[k] {
                self.active[k] = should;
                changes.push((k, should));
                if should {
                    self.times[k].0 = Some(real);
                } else {
                    self.times[k].1 = Some(real);
                }
            }
        }
        changes
    }

    fn describe_active(&self, scenario: &Scenario) -> Vec<String> {
        scenario
            .fault
            .iter()
            .zip(&self.active)
            .filter(|(_, a)| **a)
            .map(|(f, _)| f.describe())
            .collect()
    }
}

/// How long after a fault (simulated seconds from `to`) the outboxes were
/// back to their level before it began (`from`), and that level: the 95th
/// percentile of the looks before it, or nothing waiting if there were none.
/// Under a steady load the backlog is seldom exactly empty; this is when the
/// fault stopped showing.
pub fn catch_up(samples: &[Sample], from: f64, to: f64) -> Option<(f64, i64)> {
    let mut before: Vec<i64> = samples
        .iter()
        .filter(|s| s.t < from)
        .map(|s| s.backlog)
        .collect();
    before.sort_unstable();
    let level = before
        .get((before.len() * 95 / 100).min(before.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0);
    samples
        .iter()
        .find(|s| s.t >= to && s.backlog <= level)
        .map(|s| (s.t - to, level))
}

/// Any centre but the `c`-th, at random.
fn another_centre(
    rng: &mut rand::rngs::StdRng,
    fed: &Federation,
    centres: &[usize],
    c: usize,
) -> String {
    let k = rng.gen_range(0..centres.len() - 1);
    fed.nodes[centres[if k >= c { k + 1 } else { k }]]
        .id
        .clone()
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
    // Simulated seconds since the start, past the end while behind or draining.
    let sim_now = || start.elapsed().as_secs_f64() * scenario.compression;
    let started_utc = time::OffsetDateTime::now_utc();
    let tick = Duration::from_millis(100);
    let (mut expected, mut due, mut unreachable) = (0.0f64, 0usize, 0usize);
    let mut last_elapsed = 0.0f64;
    let mut faults = Faults::new(scenario);
    let mut rogues = rogue::Rogues::default();
    let mut before = Duration::ZERO;
    let mut samples = Vec::new();
    let waiting = Arc::new(AtomicUsize::new(0));
    let mut peak_waiting = 0usize;
    let (jobs, queue) = tokio::sync::mpsc::unbounded_channel();
    let doctors = doctors(Desk::new(fed), queue, waiting.clone());
    let watch = Watch::open(fed).await?;
    // Sampling asks every node; with many nodes, ask less often.
    let sample_every = Duration::from_millis(500.max(fed.nodes.len() as u64 * 5));
    let mut last_sample = Instant::now() - sample_every;
    // On schedule: faults and arrivals follow the clock.
    loop {
        let elapsed = start.elapsed().as_secs_f64();
        let now = Duration::from_secs_f64(
            (elapsed * scenario.compression).min(scenario.duration.as_secs_f64()),
        );
        for (k, on) in faults.advance(scenario, before, now, elapsed.min(wall)) {
            set_fault(fed, &mut rogues, scenario.seed, &scenario.fault[k], on).await?;
        }
        before = now;
        // New cases, spread over the centres by population, handed to the
        // doctors; never past the end of the scenario.
        let until = elapsed.min(wall);
        expected +=
            scenario.rate_at(now) / 86_400.0 * (until - last_elapsed) * scenario.compression;
        last_elapsed = until;
        // (A hair over, so the sum of the tick's shares reaches a whole total.)
        while due < (expected + 1e-6).floor() as usize {
            due += 1;
            let mut pick = rng.gen_range(0.0..total_weight);
            let mut c = 0;
            while pick >= weights[c] && c + 1 < weights.len() {
                pick -= weights[c];
                c += 1;
            }
            let i = centres[c];
            let update = rng.gen_bool(scenario.load.update_rate);
            let share_to = rng
                .gen_bool(scenario.load.share_rate)
                .then(|| another_centre(&mut rng, fed, &centres, c));
            let transfer_to = rng
                .gen_bool(scenario.load.transfer_rate)
                .then(|| another_centre(&mut rng, fed, &centres, c));
            if !fed.is_up(i) {
                unreachable += 1; // the doctor cannot reach a centre that is down
                continue;
            }
            waiting.fetch_add(1, Ordering::Relaxed);
            let _ = jobs.send(Job {
                centre: i,
                n: due,
                municipality: specs[c].municipality.clone(),
                update,
                share_to,
                transfer_to,
            });
        }
        peak_waiting = peak_waiting.max(waiting.load(Ordering::Relaxed));
        if last_sample.elapsed() >= sample_every {
            last_sample = Instant::now();
            observe(fed, &watch, sim_now(), &mut samples).await;
            let active = faults.describe_active(scenario);
            let answered = due - unreachable - waiting.load(Ordering::Relaxed);
            progress(
                elapsed / wall,
                &if active.is_empty() {
                    format!("{answered} of {due} cases notified")
                } else {
                    active.join(", ")
                },
            );
        }
        if elapsed >= wall {
            break;
        }
        tokio::time::sleep(tick).await;
    }
    // The last round saw the clock at the end of the scenario, past every
    // fault window: every fault has been lifted.
    drop(jobs);
    // Behind schedule: the doctors finish what was due.
    while !doctors.is_finished() {
        observe(fed, &watch, sim_now(), &mut samples).await;
        let left = waiting.load(Ordering::Relaxed);
        progress(1.0, &format!("behind schedule: {left} cases to notify"));
        tokio::time::sleep(sample_every).await;
    }
    let tally = doctors.await?;
    let load_seconds = start.elapsed().as_secs_f64();
    // Then the federation drains; it fails if nothing moves for two minutes.
    let mut least = i64::MAX;
    let mut moved = Instant::now();
    loop {
        let (b, pending) = observe(fed, &watch, sim_now(), &mut samples).await;
        progress(1.0, &format!("draining: {b} waiting"));
        if b == 0 && pending == 0 {
            break;
        }
        if b + pending < least {
            least = b + pending;
            moved = Instant::now();
        }
        anyhow::ensure!(
            moved.elapsed() < Duration::from_secs(120),
            "the federation stopped draining: nothing moved for 120 s ({b} messages, {pending} transfers open)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!();
    watch.close().await;
    let last = scenario
        .fault
        .iter()
        .map(|f| f.window())
        .max_by_key(|(_, to)| *to);
    let catch_up = last.and_then(|(from, to)| {
        catch_up(&samples, from.as_secs_f64(), to.as_secs_f64())
            .map(|(t, level)| (t / scenario.compression, level))
    });
    let lags = invariants::lags(fed, scenario.compression, started_utc)
        .await
        .unwrap_or_default();
    Ok(Outcome {
        scenario: scenario.name.clone(),
        due,
        unreachable,
        cases: tally.cases,
        transfers: tally.transfers,
        shares: tally.shares,
        load_seconds,
        schedule_seconds: wall,
        peak_waiting,
        sample_seconds: sample_every.as_secs_f64(),
        fault_times: faults.times,
        peak_backlog: samples.iter().map(|s| s.backlog).max().unwrap_or(0),
        samples,
        catch_up,
        lags,
        invariants: Vec::new(),
        rogue: rogues.tally,
    })
}

pub mod invariants;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_window_happens_once_however_the_clock_jumps() {
        let scenario: Scenario = toml::from_str(
            r#"
name = "t"
duration = "10h"
compression = 1
seed = 1
[[centre]]
id = "hc-1"
name_ja = "a"
name_en = "a"
municipality = "131032"
population = 1
[[centre]]
id = "hc-2"
name_ja = "b"
name_en = "b"
municipality = "131041"
population = 1
[load]
cases_per_day = [1]
transfer_rate = 0.0
share_rate = 0.0
update_rate = 0.0
[[fault]]
kind = "node_down"
node = "hc-1"
from = "2h"
to = "3h"
[[fault]]
kind = "partition"
between = ["hc-1", "hc-2"]
from = "0s"
to = "5h"
"#,
        )
        .unwrap();
        let h = |n: u64| Duration::from_secs(n * 3600);
        // Looks every half hour: each fault starts and ends once, on time.
        let mut faults = Faults::new(&scenario);
        let mut changes = Vec::new();
        let mut before = Duration::ZERO;
        for half in 0..=20 {
            let now = Duration::from_secs(half * 1800);
            for c in faults.advance(&scenario, before, now, half as f64) {
                changes.push((c, half));
            }
            before = now;
        }
        assert_eq!(
            changes,
            vec![
                ((1, true), 0),
                ((0, true), 4),
                ((0, false), 6),
                ((1, false), 10)
            ]
        );
        assert_eq!(
            faults.times,
            vec![(Some(4.0), Some(6.0)), (Some(0.0), Some(10.0))]
        );
        // One look before the node's window and the next after it: the node
        // still goes down and comes back, in that order.
        let mut faults = Faults::new(&scenario);
        assert_eq!(faults.advance(&scenario, h(0), h(0), 0.0), vec![(1, true)]);
        assert_eq!(
            faults.advance(&scenario, h(0), h(4), 1.0),
            vec![(0, true), (0, false)]
        );
        assert_eq!(faults.describe_active(&scenario).len(), 1);
        assert!(faults.advance(&scenario, h(4), h(4), 2.0).is_empty());
        assert_eq!(faults.advance(&scenario, h(4), h(6), 3.0), vec![(1, false)]);
        assert!(faults.describe_active(&scenario).is_empty());
    }

    #[test]
    fn catching_up_means_back_to_the_level_before_the_fault() {
        let looks = |b: &[i64]| -> Vec<Sample> {
            b.iter()
                .enumerate()
                .map(|(t, &backlog)| Sample {
                    t: t as f64,
                    backlog,
                })
                .collect()
        };
        // Steady load with a few messages in flight, a fault from 4 to 6,
        // back below the usual level at 8.
        let s = looks(&[3, 5, 2, 4, 40, 90, 60, 12, 4, 0]);
        assert_eq!(catch_up(&s, 4.0, 6.0), Some((2.0, 5)));
        // A fault from the start: back to nothing waiting.
        let s = looks(&[10, 20, 5, 0, 1]);
        assert_eq!(catch_up(&s, 0.0, 1.0), Some((2.0, 0)));
        // Never back: none.
        assert_eq!(catch_up(&looks(&[1, 1, 50, 50]), 2.0, 3.0), None);
    }
}
