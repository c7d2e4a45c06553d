//! A small W3C WebDriver client driving Debian's headless Chromium through
//! `chromedriver` (package `chromium-driver`), for the web interface tests.

use std::process::{Child, Command, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One browser session with its own chromedriver and profile.
pub struct Browser {
    _driver: Driver,
    http: reqwest::Client,
    session: String,
    _profile: tempfile::TempDir,
}

/// How long chromedriver may take to say it is listening.
const DRIVER_START: Duration = Duration::from_secs(30);

/// Reads chromedriver's output until it names the port it listens on
/// ("ChromeDriver was started successfully on port 40123."), then keeps
/// draining it so the driver never blocks on a full pipe.
fn announced_port(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut told = false;
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The first line ("Starting ChromeDriver … on port 0") names the
            // port asked for; this one names the port bound.
            if !told && let Some(rest) = line.split("started successfully on port ").nth(1) {
                told = true;
                let _ = tx.send(rest.trim_end_matches('.').trim().to_string());
            }
        }
    });
    rx
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub async fn start() -> anyhow::Result<Browser> {
        let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        // Port 0: chromedriver binds a port of the system's choosing itself
        // and says which, so no other program can take it in between.
        let mut driver = Command::new(&driver_bin)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!("starting `{driver_bin}`: install Debian's chromium and chromium-driver (.ci/run does)")
            })?;
        let announced = announced_port(driver.stdout.take().context("chromedriver's stdout")?);
        // From here on the driver is stopped however this function returns.
        let driver = Driver(driver);
        let port: u16 = match tokio::task::spawn_blocking(move || {
            announced.recv_timeout(DRIVER_START)
        })
        .await?
        {
            Ok(port) => port
                .parse()
                .with_context(|| format!("chromedriver announced port `{port}`"))?,
            Err(RecvTimeoutError::Timeout) => {
                bail!("chromedriver did not say which port it listens on within {DRIVER_START:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                bail!("chromedriver exited without saying which port it listens on")
            }
        };
        let profile = tempfile::tempdir()?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !ready {
            bail!("chromedriver did not start on port {port}");
        }
        let mut options = json!({
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--no-first-run",
                "--window-size=1280,1000", format!("--user-data-dir={}", profile.path().display()),
            ],
        });
        if std::path::Path::new("/usr/bin/chromium").exists() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let caps = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": options } } });
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await?
            .json()
            .await?;
        let session = r["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("no browser session: {r}"))?
            .to_string();
        Ok(Browser {
            _driver: driver,
            http,
            session: format!("{base}/session/{session}"),
            _profile: profile,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r: Value = req.send().await?.json().await?;
        if let Some(err) = r["value"]["error"].as_str() {
            bail!("webdriver {path}: {err}: {}", r["value"]["message"]);
        }
        Ok(r["value"].clone())
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await?;
        Ok(())
    }

    pub async fn url(&self) -> anyhow::Result<String> {
        Ok(self
            .call(reqwest::Method::GET, "/url", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// The page's HTML as the browser holds it.
    pub async fn source(&self) -> anyhow::Result<String> {
        Ok(self
            .call(reqwest::Method::GET, "/source", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    async fn element(&self, css: &str) -> anyhow::Result<String> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await
            .with_context(|| format!("finding `{css}`"))?;
        Ok(v[ELEMENT].as_str().unwrap_or_default().to_string())
    }

    /// Waits up to 10 s for an element to be there.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<()> {
        for _ in 0..100 {
            if self.count(css).await? > 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("`{css}` did not appear on {}", self.url().await?)
    }

    /// Waits up to 10 s for the page to contain `text` (after a form's
    /// post, until the new page has replaced the old one).
    pub async fn wait_for_text(&self, text: &str) -> anyhow::Result<()> {
        for _ in 0..100 {
            if self.source().await.is_ok_and(|s| s.contains(text)) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("`{text}` did not appear on {}", self.url().await?)
    }

    /// How many elements match.
    pub async fn count(&self, css: &str) -> anyhow::Result<usize> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/elements",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await?;
        Ok(v.as_array().map_or(0, Vec::len))
    }

    /// Types into a field (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let id = self.element(css).await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/clear"),
            Some(json!({})),
        )
        .await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await?;
        Ok(())
    }

    /// Sets a date field (typing into one depends on the browser's locale).
    pub async fn set_date(&self, css: &str, date: &str) -> anyhow::Result<()> {
        let id = self.element(css).await?;
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": "arguments[0].value = arguments[1];", "args": [{ ELEMENT: id }, date] })),
        )
        .await?;
        Ok(())
    }

    /// Runs `script` with the first element matching `css` as `arguments[0]`.
    pub async fn execute(&self, css: &str, script: &str) -> anyhow::Result<Value> {
        let id = self.element(css).await?;
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [{ ELEMENT: id }] })),
        )
        .await
    }

    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let id = self.element(css).await?;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await?;
        Ok(())
    }

    /// Chooses an option of a `<select>`.
    pub async fn choose(&self, select: &str, value: &str) -> anyhow::Result<()> {
        self.click(&format!("{select} option[value=\"{value}\"]"))
            .await
    }

    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let id = self.element(css).await?;
        Ok(self
            .call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// Forgets every cookie (a different person on a fresh browser).
    pub async fn clear_cookies(&self) -> anyhow::Result<()> {
        self.call(reqwest::Method::DELETE, "/cookie", None).await?;
        Ok(())
    }

    pub async fn set_size(&self, width: u32, height: u32) -> anyhow::Result<()> {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        )
        .await?;
        Ok(())
    }

    /// Saves a PNG of the viewport.
    pub async fn screenshot(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let v = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let png = data_encoding::BASE64
            .decode(v.as_str().unwrap_or_default().as_bytes())
            .context("screenshot is not base64")?;
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Ends the session, then the driver (as it is dropped).
    pub async fn quit(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}
