//! Headless Chromium driven over the DevTools protocol, for the browser app's tests: a fake
//! camera fed from a Y4M file, WebGPU on SwiftShader, downloads into a folder, and every network
//! request the page makes recorded.

use std::{
    io::{BufRead, BufReader},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket, stream::MaybeTlsStream};

/// The site server (`scripts/serve-web.py`) on a free port; stopped when dropped.
pub struct SiteServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
}

impl SiteServer {
    /// Serves `site`.
    pub fn start(site: &Path) -> Self {
        let mut child = Command::new("python3")
            .arg(super::root().join("scripts/serve-web.py"))
            .args(["--port", "0", "--dir"])
            .arg(site)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs scripts/serve-web.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the server says where it listens");
        let origin = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in the server's first line: {line}"))
            .trim_end_matches('/')
            .to_owned();
        Self { child, origin }
    }

    /// Stops it (the page must then live on its caches).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for SiteServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A headless Chromium with one page, attached over the DevTools protocol.
pub struct Browser {
    child: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    /// Every URL the page requested, in order.
    pub requests: Vec<String>,
    /// Files the page saved.
    pub downloads: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium with `camera_y4m` as its camera and a new, empty profile.
    pub fn start(camera_y4m: &Path, downloads: &Path) -> Self {
        Self::start_with_microphone(camera_y4m, None, downloads)
    }

    /// As [`Browser::start`], with `microphone_wav` (looped) as the microphone's sound where
    /// given, else Chromium's own beeps.
    pub fn start_with_microphone(
        camera_y4m: &Path,
        microphone_wav: Option<&Path>,
        downloads: &Path,
    ) -> Self {
        let profile = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--enable-unsafe-webgpu",
                "--enable-features=Vulkan",
                "--use-angle=swiftshader",
                // Without these the GPU process has no Vulkan for the canvas's swap chain here,
                // and the page's WebGPU device is lost at its first present.
                "--use-vulkan=swiftshader",
                "--disable-vulkan-surface",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                // A scripted recording starts without a tap; on a phone, Record is one.
                "--autoplay-policy=no-user-gesture-required",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=1280,720",
            ])
            .arg(format!("--use-file-for-fake-video-capture={}", camera_y4m.display()))
            .args(
                microphone_wav
                    .map(|wav| format!("--use-file-for-fake-audio-capture={}", wav.display())),
            )
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("chromium runs (scripts/install-deps.sh installs it)");
        let stderr = BufReader::new(child.stderr.take().expect("piped"));
        let mut endpoint = None;
        for line in stderr.lines() {
            let line = line.expect("chromium's stderr");
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                endpoint = Some(url.trim().to_owned());
                break;
            }
        }
        let endpoint = endpoint.expect("chromium printed its DevTools address");
        let (socket, _) = tungstenite::connect(&endpoint).expect("DevTools socket");
        let mut browser = Self {
            child,
            socket,
            session: String::new(),
            next_id: 1,
            requests: Vec::new(),
            downloads: downloads.to_owned(),
            _profile: profile,
        };
        let target = browser.call_browser("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().expect("target id").to_owned();
        let attached = browser
            .call_browser("Target.attachToTarget", json!({"targetId": target_id, "flatten": true}));
        browser.session = attached["sessionId"].as_str().expect("session id").to_owned();
        browser.call_browser(
            "Browser.setDownloadBehavior",
            json!({"behavior": "allow", "downloadPath": downloads, "eventsEnabled": true}),
        );
        browser.call("Network.enable", json!({}));
        browser.call("Page.enable", json!({}));
        browser.set_viewport(1280, 720, 1.0);
        browser
    }

    /// The page's viewport: `width` x `height` CSS pixels of `scale` device pixels each (a
    /// phone turned to portrait is 360x640 at 2 or 3).
    pub fn set_viewport(&mut self, width: u32, height: u32, scale: f64) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": scale, "mobile": false}),
        );
    }

    fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut message = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket.send(Message::text(message.to_string())).expect("DevTools send");
        loop {
            let reply = self.socket.read().expect("DevTools reply");
            let Message::Text(text) = reply else { continue };
            let value: Value = serde_json::from_str(&text).expect("DevTools JSON");
            if value["method"] == "Network.requestWillBeSent"
                && let Some(url) = value["params"]["request"]["url"].as_str()
            {
                self.requests.push(url.to_owned());
            }
            if value["id"] == json!(id) {
                if let Some(error) = value.get("error") {
                    panic!("DevTools {method} failed: {error}");
                }
                return value["result"].clone();
            }
        }
    }

    fn call_browser(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None)
    }

    /// A DevTools call on the page.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.send(method, params, Some(&session))
    }

    /// Opens `url` in the page.
    pub fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
    }

    /// Evaluates `expression` in the page and returns its value (promises awaited).
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        result["result"]["value"].clone()
    }

    /// A finger's tap (touch start and end) at `(x, y)` CSS pixels of the viewport.
    pub fn touch(&mut self, x: f64, y: f64) {
        self.call(
            "Input.dispatchTouchEvent",
            json!({"type": "touchStart", "touchPoints": [{"x": x, "y": y}]}),
        );
        self.call("Input.dispatchTouchEvent", json!({"type": "touchEnd", "touchPoints": []}));
    }

    /// A key pressed and released (`key` as the DOM names it: "Enter", "Backspace", "s").
    pub fn key(&mut self, key: &str) {
        for kind in ["keyDown", "keyUp"] {
            self.call("Input.dispatchKeyEvent", json!({"type": kind, "key": key}));
        }
    }

    /// `text` typed into the focused element, as a phone's keyboard or an input method commits
    /// it.
    pub fn type_text(&mut self, text: &str) {
        self.call("Input.insertText", json!({"text": text}));
    }

    /// The file the page saved as `name`, once the browser has finished writing it (it writes
    /// to a temporary name and renames it when complete).
    pub fn downloaded(&self, name: &str) -> PathBuf {
        let path = self.downloads.join(name);
        let start = Instant::now();
        while !path.is_file() {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "{} was never saved",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        path
    }

    /// `window.dreamlens.summary()`, or null before the page published it.
    pub fn summary(&mut self) -> Value {
        self.eval("window.dreamlens ? window.dreamlens.summary() : null")
    }

    /// The page's status line.
    pub fn status(&mut self) -> String {
        self.eval("document.getElementById('status').textContent").as_str().unwrap_or("").to_owned()
    }

    /// Polls the summary until `done` holds, failing after `limit` of wall-clock time with the
    /// page's status and last summary (a stall, not a speed check: the limit is generous).
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let summary = self.summary();
            if done(&summary) {
                return summary;
            }
            if start.elapsed() > limit {
                let status = self.status();
                panic!("the page never reached: {what}\nstatus: {status}\nsummary: {summary}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
