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
            | Fault::Link { from, to, .. } => (*from, *to),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Fault::NodeDown { node, .. } => format!("{node} down"),
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

    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.compression >= 1.0, "compression must be at least 1");
        anyhow::ensure!(
            self.centre.len() >= 2,
            "a scenario needs at least two centres"
        );
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
        let known = |id: &str| id == "national" || self.centre.iter().any(|c| c.id == id);
        for c in &self.centre {
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
            let nodes: Vec<&str> = match f {
                Fault::NodeDown { node, .. } => vec![node],
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
