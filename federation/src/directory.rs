//! The directory of nodes: who exists, of what kind, where to reach them,
//! and which municipalities each health centre serves. What a peer may send
//! is decided from its kind here, never from what a message claims.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::wire::Body;

/// What a node is: the one list of node kinds, used by the directory, the
/// node's own config and every rule that depends on the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeKind {
    #[default]
    HealthCentre,
    National,
}

impl NodeKind {
    /// The name used in configs, the directory and JSON answers.
    pub fn wire_name(self) -> &'static str {
        match self {
            NodeKind::HealthCentre => "health-centre",
            NodeKind::National => "national",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryNode {
    pub id: String,
    pub kind: NodeKind,
    pub name_ja: String,
    pub name_en: String,
    /// The node's QUIC (UDP) address.
    pub quic: SocketAddr,
    /// 6-digit local government codes served (health centres).
    #[serde(default)]
    pub municipalities: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    node: Vec<DirectoryNode>,
}

#[derive(Debug, Clone)]
pub struct Directory {
    nodes: BTreeMap<String, DirectoryNode>,
    by_municipality: HashMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot read the directory {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the directory is not valid TOML: {0}")]
    Syntax(String),
    #[error("node `{id}`: {problem}")]
    Invalid { id: String, problem: String },
}

impl Directory {
    pub fn load(path: &Path) -> Result<Self, DirectoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| DirectoryError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, DirectoryError> {
        let file: DirectoryFile =
            toml::from_str(text).map_err(|e| DirectoryError::Syntax(e.to_string()))?;
        let mut nodes = BTreeMap::new();
        let mut by_municipality = HashMap::new();
        let mut nationals = 0;
        for node in file.node {
            let invalid = |problem: String| DirectoryError::Invalid {
                id: node.id.clone(),
                problem,
            };
            renkei_ca::node_id::validate(&node.id).map_err(|e| invalid(e.to_string()))?;
            if node.name_ja.trim().is_empty() || node.name_en.trim().is_empty() {
                return Err(invalid("needs a Japanese and an English name".into()));
            }
            match node.kind {
                NodeKind::National => {
                    nationals += 1;
                    if !node.municipalities.is_empty() {
                        return Err(invalid("a national node serves no municipalities".into()));
                    }
                }
                NodeKind::HealthCentre => {
                    for code in &node.municipalities {
                        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                            return Err(invalid(format!(
                                "`{code}` is not a 6-digit local government code"
                            )));
                        }
                        if let Some(other) = by_municipality.insert(code.clone(), node.id.clone()) {
                            return Err(invalid(format!(
                                "municipality {code} is already served by `{other}`"
                            )));
                        }
                    }
                }
            }
            let id = node.id.clone();
            if nodes.insert(id.clone(), node).is_some() {
                return Err(DirectoryError::Invalid {
                    id,
                    problem: "is listed twice".into(),
                });
            }
        }
        if nationals > 1 {
            return Err(DirectoryError::Invalid {
                id: "national".into(),
                problem: "only one national node may be listed".into(),
            });
        }
        Ok(Self {
            nodes,
            by_municipality,
        })
    }

    pub fn node(&self, id: &str) -> Option<&DirectoryNode> {
        self.nodes.get(id)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &DirectoryNode> {
        self.nodes.values()
    }

    pub fn national(&self) -> Option<&DirectoryNode> {
        self.nodes.values().find(|n| n.kind == NodeKind::National)
    }

    /// The health centre responsible for a municipality.
    pub fn centre_for(&self, municipality_code: &str) -> Option<&DirectoryNode> {
        self.by_municipality
            .get(municipality_code)
            .and_then(|id| self.nodes.get(id))
    }
}

/// Whether a node of kind `sender` may send `body` to a node of kind
/// `recipient`. The one place this is decided.
pub fn permitted(sender: NodeKind, recipient: NodeKind, body: &Body) -> bool {
    match body {
        Body::StatutoryReport(_) => {
            sender == NodeKind::HealthCentre && recipient == NodeKind::National
        }
        // Everything else passes between health centres only; the national
        // node never receives or sends identities.
        Body::TransferOffer(_)
        | Body::TransferAnswer(_)
        | Body::TransferOutcome(_)
        | Body::ForwardedObservation(_)
        | Body::ContactReferral(_)
        | Body::ShareData(_)
        | Body::ShareRevoke(_)
        | Body::ShareViewed(_) => {
            sender == NodeKind::HealthCentre && recipient == NodeKind::HealthCentre
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[[node]]
id = "national"
kind = "national"
name_ja = "厚生労働省"
name_en = "Ministry of Health, Labour and Welfare"
quic = "127.0.0.1:7100"

[[node]]
id = "hc-13103"
kind = "health-centre"
name_ja = "みなと保健所"
name_en = "Minato Health Centre"
quic = "127.0.0.1:7101"
municipalities = ["131032"]
"#;

    #[test]
    fn loads_and_answers() {
        let d = Directory::parse(SAMPLE).unwrap();
        assert_eq!(d.national().unwrap().id, "national");
        assert_eq!(d.centre_for("131032").unwrap().id, "hc-13103");
        assert!(d.centre_for("131041").is_none());
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let d = Directory::parse(include_str!("../../deploy/directory.example.toml")).unwrap();
        assert_eq!(d.centre_for("131121").unwrap().id, "hc-13112");
        assert_eq!(d.nodes().count(), 4);
    }

    #[test]
    fn refuses_inconsistent_directories() {
        let twice = format!(
            "{SAMPLE}\n[[node]]\nid = \"hc-13104\"\nkind = \"health-centre\"\nname_ja = \"x\"\nname_en = \"x\"\nquic = \"127.0.0.1:1\"\nmunicipalities = [\"131032\"]\n"
        );
        assert!(
            Directory::parse(&twice)
                .unwrap_err()
                .to_string()
                .contains("already served by `hc-13103`")
        );
        let bad_id = SAMPLE.replace("hc-13103", "HC 13103");
        assert!(
            Directory::parse(&bad_id)
                .unwrap_err()
                .to_string()
                .contains("lowercase")
        );
        let unknown = SAMPLE.replace("quic =", "colour = \"red\"\nquic =");
        assert!(matches!(
            Directory::parse(&unknown),
            Err(DirectoryError::Syntax(_))
        ));
    }
}
