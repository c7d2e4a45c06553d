//! Scenario files (TOML): the centres, the load, time compression and the
//! faults to inject.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Simulated length, e.g. "1d".
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Simulated seconds per real second (1440: a day in a minute).
    pub compression: f64,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// The health centres (a national node is always added).
    #[serde(default)]
    pub centre: Vec<CentreSpec>,
    /// More centres, made up from Japan's municipalities.
    #[serde(default)]
    pub generate: Option<Generate>,
    pub load: Load,
    #[serde(default)]
    pub fault: Vec<Fault>,
}

fn default_seed() -> u64 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentreSpec {
    pub id: String,
    pub name_ja: String,
    pub name_en: String,
    pub municipality: String,
    /// Share of the load, relative to the other centres.
    #[serde(default = "one")]
    pub population: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    /// How many centres, spread over the 47 prefectures by population.
    pub centres: usize,
}

/// Prefecture populations (2020 census, thousands), by prefecture code 01–47.
const PREFECTURES: [f64; 47] = [
    5225.0, 1238.0, 1211.0, 2302.0, 960.0, 1068.0, 1833.0, 2867.0, 1933.0, 1939.0, 7345.0, 6284.0,
    14048.0, 9237.0, 2201.0, 1035.0, 1133.0, 767.0, 810.0, 2048.0, 1979.0, 3633.0, 7542.0, 1770.0,
    1414.0, 2578.0, 8838.0, 5465.0, 1324.0, 923.0, 553.0, 671.0, 1888.0, 2800.0, 1342.0, 720.0,
    950.0, 1335.0, 692.0, 5135.0, 811.0, 1312.0, 1738.0, 1124.0, 1070.0, 1588.0, 1467.0,
];

const MUNICIPALITIES: &str = include_str!("../../node/data/municipalities.csv");

/// `count` centres named after real municipalities, each prefecture getting
/// a share by population (at least one), each centre a share of its
/// prefecture's population.
pub fn generate_centres(count: usize) -> Vec<CentreSpec> {
    let total: f64 = PREFECTURES.iter().sum();
    let available: Vec<usize> = (1..=47)
        .map(|p| {
            let prefix = format!("{p:02}");
            MUNICIPALITIES
                .lines()
                .filter(|l| {
                    l.starts_with(&prefix) && l.split(',').nth(2).is_some_and(|c| !c.is_empty())
                })
                .count()
        })
        .collect();
    let count = count.min(available.iter().sum());
    let mut per: Vec<usize> = (0..47)
        .map(|i| {
            ((PREFECTURES[i] / total * count as f64).round() as usize).clamp(1, available[i].max(1))
        })
        .collect();
    while per.iter().sum::<usize>() > count {
        let i = (0..47).max_by_key(|i| per[*i]).expect("47 prefectures");
        per[i] -= 1;
    }
    while per.iter().sum::<usize>() < count {
        // The most populous prefecture per centre that still has municipalities to spare.
        let i = (0..47)
            .filter(|i| per[*i] < available[*i])
            .max_by(|a, b| {
                (PREFECTURES[*a] / per[*a] as f64).total_cmp(&(PREFECTURES[*b] / per[*b] as f64))
            })
            .expect("enough municipalities");
        per[i] += 1;
    }
    let mut out = Vec::new();
    for (p, n) in per.iter().enumerate() {
        let prefix = format!("{:02}", p + 1);
        let cities: Vec<(&str, &str)> = MUNICIPALITIES
            .lines()
            .filter(|l| l.starts_with(&prefix))
            .filter_map(|l| {
                let mut f = l.split(',');
                let code = f.next()?;
                let _prefecture = f.next()?;
                let city = f.next().filter(|c| !c.is_empty())?;
                Some((code, city))
            })
            .take(*n)
            .collect();
        for (code, city) in &cities {
            out.push(CentreSpec {
                id: format!("hc-{}", &code[..5]),
                name_ja: format!("{city}保健所"),
                name_en: format!("Health centre {code}"),
                municipality: code.to_string(),
                population: PREFECTURES[p] / cities.len() as f64,
            });
        }
    }
    out
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// New cases per simulated day across all centres, as points of a curve
    /// spread evenly over the duration (linear in between).
    pub cases_per_day: Vec<f64>,
    /// Fraction of new cases offered to another centre.
    #[serde(default)]
    pub transfer_rate: f64,
    /// Fraction of new cases shared with another centre.
    #[serde(default)]
    pub share_rate: f64,
    /// Fraction of new cases that get a status change later.
    #[serde(default)]
    pub update_rate: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// A node's process is killed at `from` and started again at `to`.
    NodeDown {
        node: String,
        #[serde(with = "humantime_serde")]
        from: Duration,
        #[serde(with = "humantime_serde")]
        to: Duration,
    },
    /// No packet passes between two nodes.
    Partition {
        between: [String; 2],
        #[serde(with = "humantime_serde")]
        from: Duration,
        #[serde(with = "humantime_serde")]
        to: Duration,
    },
    /// `node`'s certificate is in an attacker's hands: forged messages about
    /// other centres' cases are sent with it (see `rogue.rs`).
    RogueCentre {
        node: String,
        #[serde(with = "humantime_serde")]
        from: Duration,
        #[serde(with = "humantime_serde")]
        to: Duration,
    },
    /// Packets from `source` to `target` are lost with probability `loss`
    /// and delayed by `delay`.
    Link {
        source: String,
        target: String,
        #[serde(default)]
        loss: f64,
        #[serde(default, with = "humantime_serde")]
        delay: Duration,
        #[serde(with = "humantime_serde")]
        from: Duration,
        #[serde(with = "humantime_serde")]
        to: Duration,
    },
}

impl Fault {
    pub fn window(&self) -> (Duration, Duration) {
        match self {
            Fault::NodeDown { from, to, .. }
            | Fault::Partition { from, to, .. }
            | Fault::RogueCentre { from, to, .. }
            | Fault::Link { from, to, .. } => (*from, *to),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Fault::NodeDown { node, .. } => format!("{node} down"),
            Fault::RogueCentre { node, .. } => format!("{node}'s certificate forging messages"),
            Fault::Partition { between, .. } => {
                format!("partition {} ↔ {}", between[0], between[1])
            }
            Fault::Link {
                source,
                target,
                loss,
                delay,
                ..
            } => format!(
                "{source} → {target}: {:.0} % loss, {} ms delay",
                loss * 100.0,
                delay.as_millis()
            ),
        }
    }
}

impl Scenario {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let s: Scenario =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        s.check()?;
        Ok(s)
    }

    /// Every centre: the listed ones, then the generated ones.
    pub fn all_centres(&self) -> Vec<CentreSpec> {
        let mut all = self.centre.clone();
        if let Some(g) = &self.generate {
            for c in generate_centres(g.centres) {
                if !all
                    .iter()
                    .any(|a| a.id == c.id || a.municipality == c.municipality)
                {
                    all.push(c);
                }
            }
        }
        all
    }

    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.compression >= 1.0, "compression must be at least 1");
        let centres = self.all_centres();
        anyhow::ensure!(centres.len() >= 2, "a scenario needs at least two centres");
        anyhow::ensure!(
            !self.load.cases_per_day.is_empty(),
            "load.cases_per_day needs at least one point"
        );
        anyhow::ensure!(
            self.load.cases_per_day.iter().all(|c| *c >= 0.0),
            "load.cases_per_day must not be negative"
        );
        for rate in [
            self.load.transfer_rate,
            self.load.share_rate,
            self.load.update_rate,
        ] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&rate),
                "rates are fractions from 0 to 1"
            );
        }
        let known = |id: &str| id == "national" || centres.iter().any(|c| c.id == id);
        for c in &centres {
            renkei_ca::node_id::validate(&c.id)
                .map_err(|e| anyhow::anyhow!("centre {}: {e}", c.id))?;
        }
        for f in &self.fault {
            let (from, to) = f.window();
            anyhow::ensure!(
                from < to && to <= self.duration,
                "fault `{}`: its window must lie inside the scenario",
                f.describe()
            );
            if let Fault::RogueCentre { node, .. } = f {
                anyhow::ensure!(
                    node != "national",
                    "fault `{}`: a rogue must be a health centre",
                    f.describe()
                );
            }
            let nodes: Vec<&str> = match f {
                Fault::NodeDown { node, .. } | Fault::RogueCentre { node, .. } => vec![node],
                Fault::Partition { between, .. } => vec![&between[0], &between[1]],
                Fault::Link {
                    source,
                    target,
                    loss,
                    ..
                } => {
                    anyhow::ensure!((0.0..=1.0).contains(loss), "loss is a fraction");
                    vec![source, target]
                }
            };
            for n in nodes {
                anyhow::ensure!(
                    known(n),
                    "fault `{}` names `{n}`, which is not in the scenario",
                    f.describe()
                );
            }
        }
        Ok(())
    }

    /// New cases per simulated day at simulated time `t`.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let points = &self.load.cases_per_day;
        if points.len() == 1 {
            return points[0];
        }
        let x = t.as_secs_f64() / self.duration.as_secs_f64() * (points.len() - 1) as f64;
        let i = (x.floor() as usize).min(points.len() - 2);
        let f = x - i as f64;
        points[i] * (1.0 - f) + points[i + 1] * f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Scenario> {
        let s: Scenario = toml::from_str(text)?;
        s.check()?;
        Ok(s)
    }

    const BASE: &str = r#"
name = "t"
duration = "1d"
compression = 1440
[[centre]]
id = "hc-13103"
name_ja = "a"
name_en = "a"
municipality = "131032"
[[centre]]
id = "hc-13104"
name_ja = "b"
name_en = "b"
municipality = "131041"
[load]
cases_per_day = [100, 300]
"#;

    #[test]
    fn parses_and_interpolates() {
        let s = parse(BASE).unwrap();
        assert_eq!(s.rate_at(Duration::ZERO), 100.0);
        assert_eq!(s.rate_at(Duration::from_secs(43_200)), 200.0);
    }

    #[test]
    fn generated_centres_cover_the_prefectures() {
        let c = generate_centres(470);
        assert_eq!(c.len(), 470);
        let prefectures: std::collections::BTreeSet<&str> =
            c.iter().map(|c| &c.municipality[..2]).collect();
        assert_eq!(prefectures.len(), 47);
        let tokyo = c
            .iter()
            .filter(|c| c.municipality.starts_with("13"))
            .count();
        assert!(tokyo > 40, "{tokyo}");
        let ids: std::collections::BTreeSet<&str> = c.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids.len(), 470);
    }

    #[test]
    fn refuses_faults_outside_or_unknown() {
        let late = format!(
            "{BASE}\n[[fault]]\nkind = \"node_down\"\nnode = \"hc-13103\"\nfrom = \"23h\"\nto = \"25h\"\n"
        );
        assert!(
            parse(&late)
                .unwrap_err()
                .to_string()
                .contains("inside the scenario")
        );
        let unknown = format!(
            "{BASE}\n[[fault]]\nkind = \"node_down\"\nnode = \"hc-99999\"\nfrom = \"1h\"\nto = \"2h\"\n"
        );
        assert!(
            parse(&unknown)
                .unwrap_err()
                .to_string()
                .contains("not in the scenario")
        );
        let bad_kind =
            format!("{BASE}\n[[fault]]\nkind = \"meteor\"\nfrom = \"1h\"\nto = \"2h\"\n");
        assert!(parse(&bad_kind).is_err());
    }
}
