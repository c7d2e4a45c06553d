//! The node's configuration file (TOML): `Default` is the development setup.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use renkei_federation::NodeKind;

use crate::forwarded::{ClientAddressHeader, ProxyRange};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The node's federation id, e.g. `hc-13103`.
    pub node_id: String,
    #[serde(default)]
    pub kind: NodeKind,
    /// Where the database lives; relative paths are relative to the config file.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub sessions: SessionConfig,
    #[serde(default)]
    pub self_report: SelfReportConfig,
    /// Present when the node takes part in a federation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federation: Option<crate::federation::FederationConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Set when a TLS-terminating proxy fronts the node: cookies get `Secure`.
    #[serde(default)]
    pub behind_tls: bool,
    /// Reverse proxies (addresses or CIDR networks) believed about the
    /// client's address; empty, the TCP peer is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<ProxyRange>,
    /// The one header those proxies set the client's address in.
    #[serde(default)]
    pub client_address_header: ClientAddressHeader,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// A session unused this long ends.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// A session ends this long after login, used or not.
    #[serde(with = "humantime_serde")]
    pub absolute_lifetime: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfReportConfig {
    /// How long a patient's self-report link works.
    #[serde(with = "humantime_serde")]
    pub link_lifetime: Duration,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            behind_tls: false,
            trusted_proxies: Vec::new(),
            client_address_header: ClientAddressHeader::default(),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_lifetime: Duration::from_secs(12 * 3600),
        }
    }
}

impl Default for SelfReportConfig {
    fn default() -> Self {
        Self {
            link_lifetime: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

impl Config {
    pub fn new(node_id: &str) -> Self {
        Self {
            node_id: node_id.to_string(),
            kind: NodeKind::default(),
            data_dir: default_data_dir(),
            http: HttpConfig::default(),
            sessions: SessionConfig::default(),
            self_report: SelfReportConfig::default(),
            federation: None,
        }
    }

    /// Reads and checks a config file; `data_dir` comes back absolute.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("config {}: {e}", path.display()))?;
        renkei_ca::node_id::validate(&config.node_id)
            .map_err(|e| anyhow::anyhow!("config {}: node_id: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        if config.data_dir.is_relative() {
            config.data_dir = base.join(&config.data_dir);
        }
        if let Some(federation) = &mut config.federation {
            federation.resolve_paths(base);
        }
        Ok(config)
    }

    /// The node's SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("node.db")
    }

    /// The text of a new, commented config file.
    pub fn commented_toml(&self) -> String {
        format!(
            r#"# Renkei node configuration.

# This node's id in the federation: lowercase letters, digits and hyphens,
# e.g. "hc-13103" for the Minato ward health centre.
node_id = "{node_id}"
# "health-centre" or "national".
kind = "{kind}"
# Where the database is kept, relative to this file.
data_dir = "{data_dir}"

[http]
# Address of the HTTP API. Keep it on loopback unless a TLS proxy fronts it.
listen = "{listen}"
# Set to true behind a TLS-terminating proxy so session cookies are Secure.
behind_tls = {behind_tls}
# The proxies in front of the node (addresses or CIDR networks, e.g.
# ["127.0.0.1", "::1"]). Only a request from one of them is believed about
# the client's address, in the header below, which they must overwrite (see
# deploy/nginx.conf.example). Empty: every request's TCP peer is the client.
trusted_proxies = [{trusted_proxies}]
# "x-forwarded-for", or "forwarded" (RFC 7239); only this header is read.
client_address_header = "{client_address_header}"

[sessions]
# A session unused this long ends; a session ends this long after login.
idle_timeout = "{idle}"
absolute_lifetime = "{absolute}"

[self_report]
# How long a patient's self-report link works.
link_lifetime = "{link}"
{federation}"#,
            node_id = self.node_id,
            kind = self.kind.wire_name(),
            data_dir = self.data_dir.display(),
            listen = self.http.listen,
            behind_tls = self.http.behind_tls,
            trusted_proxies = self
                .http
                .trusted_proxies
                .iter()
                .map(|r| format!("\"{r}\""))
                .collect::<Vec<_>>()
                .join(", "),
            client_address_header = self.http.client_address_header.name(),
            idle = humantime::format_duration(self.sessions.idle_timeout),
            absolute = humantime::format_duration(self.sessions.absolute_lifetime),
            link = humantime::format_duration(self.self_report.link_lifetime),
            federation = match &self.federation {
                None => "\n# To join a federation, add a [federation] section (see deploy/).\n"
                    .to_string(),
                Some(f) =>
                    format!(
                        "\n[federation]\nquic_listen = \"{}\"\ndirectory = \"{}\"\ncertificate = \"{}\"\nkey = \"{}\"\nca = \"{}\"\ncrl = \"{}\"\nmax_backoff = \"{}\"\ncrl_check_interval = \"{}\"\n",
                        f.quic_listen,
                        f.directory.display(),
                        f.certificate.display(),
                        f.key.display(),
                        f.ca.display(),
                        f.crl.display(),
                        humantime::format_duration(f.max_backoff),
                        humantime::format_duration(f.crl_check_interval),
                    ) + &federation_extras(f),
            },
        )
    }
}

/// The optional federation settings, as config lines.
fn federation_extras(f: &crate::federation::FederationConfig) -> String {
    let mut out = String::new();
    if let Some(p) = &f.person_key {
        out.push_str(&format!("person_key = \"{}\"\n", p.display()));
    }
    if !f.auto_accept_transfers_from.is_empty() {
        out.push_str(&format!(
            "auto_accept_transfers_from = {:?}\n",
            f.auto_accept_transfers_from
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commented_default_parses_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, Config::new("hc-13103").commented_toml()).unwrap();
        let loaded = Config::load(&path).unwrap();
        assert_eq!(loaded.node_id, "hc-13103");
        assert_eq!(loaded.sessions.idle_timeout, Duration::from_secs(1800));
        assert_eq!(loaded.data_dir, dir.path().join("data"));
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, include_str!("../../deploy/hc-13103.example.toml")).unwrap();
        let config = Config::load(&path).unwrap();
        let federation = config.federation.unwrap();
        assert_eq!(
            federation.directory,
            dir.path().join("directory.example.toml")
        );
        assert_eq!(federation.crl_check_interval, Duration::from_secs(30));
        assert_eq!(config.http.trusted_proxies.len(), 2);
    }

    #[test]
    fn trusted_proxies_are_written_back_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let mut config = Config::new("hc-13103");
        config.http.trusted_proxies =
            vec!["127.0.0.1".parse().unwrap(), "fd00::/8".parse().unwrap()];
        config.http.client_address_header = ClientAddressHeader::Forwarded;
        std::fs::write(&path, config.commented_toml()).unwrap();
        let loaded = Config::load(&path).unwrap();
        assert_eq!(loaded.http.trusted_proxies, config.http.trusted_proxies);
        assert_eq!(
            loaded.http.client_address_header,
            ClientAddressHeader::Forwarded
        );
        assert!(Config::new("hc-13103").http.trusted_proxies.is_empty());

        for (proxies, expected) in [
            (r#"["10.0.0.5/8"]"#, "`10.0.0.0/8`"),
            (r#"["0.0.0.0/0"]"#, "every address"),
            (r#"["proxy.local"]"#, "`proxy.local`"),
        ] {
            std::fs::write(
                &path,
                format!("node_id = \"hc-1\"\n[http]\nlisten = \"127.0.0.1:80\"\ntrusted_proxies = {proxies}\n"),
            )
            .unwrap();
            let error = Config::load(&path).unwrap_err().to_string();
            assert!(error.contains(expected), "{proxies}: {error}");
            assert!(error.contains("trusted_proxies"), "{proxies}: {error}");
        }
        std::fs::write(
            &path,
            "node_id = \"hc-1\"\n[http]\nlisten = \"127.0.0.1:80\"\nclient_address_header = \"x-real-ip\"\n",
        )
        .unwrap();
        let error = Config::load(&path).unwrap_err().to_string();
        assert!(error.contains("x-real-ip"), "{error}");
    }

    #[test]
    fn refuses_unknown_keys_and_bad_node_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        std::fs::write(&path, "node_id = \"hc-1\"\nlisten = \"x\"\n").unwrap();
        assert!(
            Config::load(&path)
                .unwrap_err()
                .to_string()
                .contains("unknown field")
        );
        std::fs::write(&path, "node_id = \"HC 1\"\n").unwrap();
        assert!(
            Config::load(&path)
                .unwrap_err()
                .to_string()
                .contains("node_id")
        );
    }
}
