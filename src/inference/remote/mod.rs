//! Models served by an inference server (Triton, KServe, MLServer) over the Open Inference
//! Protocol, for devices too weak for the heavy graphs. Only what the user names with
//! `--remote` goes there; the tokenizer, scheduler, noise and every other step stay local, so
//! a remote run computes the same thing as a local one.
//!
//! A [`RemoteModel`] checks the server and the model's metadata when opened (so a wrong server
//! fails at start-up, not mid-frame), then sends each run as one binary infer request on a
//! kept-alive connection.

pub mod protocol;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use protocol::{DataType, ModelMetadata, ProtocolProblem, RawTensor};

/// The graphs of a diffusion pipeline, by their Optimum sub-folder names (TAESD's parts by
/// the names the pipeline gives them).
pub const DIFFUSION_PARTS: [&str; 6] =
    ["text_encoder", "unet", "vae_encoder", "vae_decoder", "taesd_encoder", "taesd_decoder"];

/// Environment variable holding the bearer token sent to the inference server.
pub const TOKEN_ENV: &str = "DREAMLENS_REMOTE_TOKEN";

/// Where remote models are served and which ones go there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteConfig {
    /// Server base URL (`http://host:8000`, or https), without a trailing slash.
    pub url: String,
    /// Which models run remotely.
    pub models: RemoteSelection,
    /// Prepended to every model name on the server.
    pub prefix: String,
    /// A model version to ask for; the server's default when `None`.
    pub version: Option<String>,
    /// Sent as `Authorization: Bearer ...` when set.
    pub token: Option<String>,
    /// Continue locally when the server fails mid-run (reported once), instead of stopping.
    pub fallback_local: bool,
    /// Limit for connecting.
    pub connect_timeout: Duration,
    /// Limit for a whole request (a UNet step on a busy server included).
    pub request_timeout: Duration,
}

impl RemoteConfig {
    /// A configuration for `url` with the defaults: the diffusion graphs go remote, no prefix,
    /// no token, no fallback, 5 s to connect and 60 s per request.
    pub fn new(url: &str) -> Result<Self, RemoteError> {
        let url = url.trim().trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
            return Err(RemoteError::Config(format!(
                "remote server `{url}` is not an http:// or https:// URL (for example http://gpu-box:8000)"
            )));
        }
        Ok(Self {
            url,
            models: RemoteSelection::parse("diffusion"),
            prefix: String::new(),
            version: None,
            token: None,
            fallback_local: false,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(60),
        })
    }

    /// The bearer token `DREAMLENS_REMOTE_TOKEN` holds, if any.
    pub fn token_from_env() -> Option<String> {
        std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty())
    }

    /// True when `model_id` runs on the server.
    pub fn serves(&self, model_id: &str) -> bool {
        self.models.contains(model_id)
    }

    /// The server's name for `model_id`.
    pub fn remote_name(&self, model_id: &str) -> String {
        format!("{}{model_id}", self.prefix)
    }

    /// `/v2/models/{name}[/versions/{v}]` on this server.
    fn model_url(&self, name: &str) -> String {
        match &self.version {
            Some(version) => format!("{}/v2/models/{name}/versions/{version}", self.url),
            None => format!("{}/v2/models/{name}", self.url),
        }
    }
}

/// Which models go to the server: named ids, `diffusion` (its graphs) or `all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSelection {
    all: bool,
    names: BTreeSet<String>,
}

impl RemoteSelection {
    /// Parses a comma-separated list; `diffusion` stands for [`DIFFUSION_PARTS`], `all` for
    /// every model.
    pub fn parse(list: &str) -> Self {
        let mut selection = Self { all: false, names: BTreeSet::new() };
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "all" => selection.all = true,
                "diffusion" => selection.names.extend(DIFFUSION_PARTS.map(String::from)),
                name => {
                    selection.names.insert(name.to_owned());
                }
            }
        }
        selection
    }

    /// True when `model_id` is selected.
    pub fn contains(&self, model_id: &str) -> bool {
        self.all || self.names.contains(model_id)
    }
}

/// Why a remote model cannot be used. Every message names the server and, where there is one,
/// the model.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The options are wrong.
    #[error("{0}")]
    Config(String),
    /// The server cannot be reached (down, wrong address, refused, timed out).
    #[error(
        "remote server {url} is unreachable{for_model}: {reason}. Check that it runs and that --remote is right, or add --remote-fallback local"
    )]
    Unreachable {
        /// Server URL.
        url: String,
        /// ` for model NAME`, or empty.
        for_model: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with an HTTP error.
    #[error("remote server {url}, model `{model}`: HTTP {status}: {message}")]
    Http {
        /// Server URL.
        url: String,
        /// Model name on the server.
        model: String,
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// The server answered something that is not the protocol, or not what was asked.
    #[error("remote server {url}, model `{model}`: {problem}")]
    Protocol {
        /// Server URL.
        url: String,
        /// Model name on the server.
        model: String,
        /// What is wrong (boxed: it is large, and rare).
        problem: Box<ProtocolProblem>,
    },
}

impl RemoteError {
    /// True for failures of the connection or the server itself (worth a local fallback),
    /// false for a model that answers but does not fit.
    pub fn is_server_failure(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Http { status, .. } => *status >= 500,
            Self::Protocol { .. } | Self::Config(_) => false,
        }
    }
}

/// What the calls to one remote model cost, for the HUD and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CallStats {
    /// Requests answered.
    pub calls: u64,
    /// Round trip of the last request.
    pub last_round_trip: Duration,
    /// Bytes sent in all requests (bodies).
    pub bytes_sent: u64,
    /// Bytes received in all responses (bodies).
    pub bytes_received: u64,
}

/// One model on the server, checked and ready to run.
pub struct RemoteModel {
    config: RemoteConfig,
    name: String,
    metadata: ModelMetadata,
    agent: ureq::Agent,
    stats: CallStats,
}

impl std::fmt::Debug for RemoteModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteModel")
            .field("url", &self.config.url)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Pause before the one retry of a failed connection.
const RETRY_BACKOFF: Duration = Duration::from_millis(250);
/// Largest response body accepted (a 512x512x32 fp32 logits map is 32 MiB).
const MAX_RESPONSE_BYTES: u64 = 1 << 30;

impl RemoteModel {
    /// Asks the server whether it is ready and what `model_id` (under the configured prefix and
    /// version) takes and gives.
    pub fn open(config: &RemoteConfig, model_id: &str) -> Result<Self, RemoteError> {
        let agent: ureq::Agent = crate::http::agent_config()
            .timeout_connect(Some(config.connect_timeout))
            .timeout_global(Some(config.request_timeout))
            .http_status_as_error(false)
            .build()
            .into();
        let name = config.remote_name(model_id);
        let mut model = Self {
            config: config.clone(),
            name,
            metadata: ModelMetadata {
                name: String::new(),
                versions: Vec::new(),
                inputs: Vec::new(),
                outputs: Vec::new(),
            },
            agent,
            stats: CallStats::default(),
        };
        model.check_ready()?;
        let body = model.get(&config.model_url(&model.name))?;
        model.metadata = serde_json::from_slice(&body).map_err(|cause| {
            let message = protocol::error_message(&body);
            model.protocol_error(ProtocolProblem::NotMetadata { cause, message })
        })?;
        for tensor in model.metadata.inputs.iter().chain(&model.metadata.outputs) {
            if DataType::parse(&tensor.datatype).is_none() {
                return Err(model.protocol_error(ProtocolProblem::Datatype {
                    name: tensor.name.clone(),
                    datatype: tensor.datatype.clone(),
                }));
            }
        }
        Ok(model)
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.config.url
    }

    /// The model's name on the server.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the server declares the model takes and gives.
    pub fn metadata(&self) -> &ModelMetadata {
        &self.metadata
    }

    /// What the calls so far cost.
    pub fn stats(&self) -> CallStats {
        self.stats
    }

    /// Runs the model on the server: sends `inputs`, returns `outputs` in the order asked.
    pub fn infer(
        &mut self,
        inputs: &[RawTensor],
        outputs: &[&str],
    ) -> Result<Vec<RawTensor>, RemoteError> {
        let (body, header_length) = protocol::encode_request(inputs, outputs);
        let url = match &self.config.version {
            Some(version) => {
                format!("{}/v2/models/{}/versions/{version}/infer", self.config.url, self.name)
            }
            None => format!("{}/v2/models/{}/infer", self.config.url, self.name),
        };
        let started = Instant::now();
        let (response_body, response_header) = self.with_retry(|model| {
            let mut request = model
                .agent
                .post(&url)
                .header("Content-Type", "application/octet-stream")
                .header(protocol::HEADER_LENGTH, &header_length.to_string());
            if let Some(token) = &model.config.token {
                request = request.header("Authorization", &format!("Bearer {token}"));
            }
            request.send(&body[..])
        })?;
        let round_trip = started.elapsed();
        let mut decoded = protocol::decode_response(&response_body, response_header)
            .map_err(|problem| self.protocol_error(problem))?;
        self.stats.calls += 1;
        self.stats.last_round_trip = round_trip;
        self.stats.bytes_sent += body.len() as u64;
        self.stats.bytes_received += response_body.len() as u64;
        outputs
            .iter()
            .map(|name| {
                let at = decoded.iter().position(|t| t.name == *name).ok_or_else(|| {
                    self.protocol_error(ProtocolProblem::NoOutput((*name).to_owned()))
                })?;
                Ok(decoded.swap_remove(at))
            })
            .collect()
    }

    fn check_ready(&self) -> Result<(), RemoteError> {
        match self.get(&format!("{}/v2/health/ready", self.config.url)) {
            Ok(_) => Ok(()),
            // A refused token is the user's to fix, not a server that is down.
            Err(error @ RemoteError::Http { status: 401 | 403, .. }) => Err(error),
            Err(RemoteError::Http { status, message, .. }) => Err(RemoteError::Unreachable {
                url: self.config.url.clone(),
                for_model: format!(" for model `{}`", self.name),
                reason: format!(
                    "it is not ready (GET /v2/health/ready answered {status}: {message})"
                ),
            }),
            Err(other) => Err(other),
        }
    }

    /// A GET whose 200 body is returned; other statuses become errors with the server's words.
    fn get(&self, url: &str) -> Result<Vec<u8>, RemoteError> {
        self.with_retry(|model| model.authorized(model.agent.get(url)).call()).map(|(body, _)| body)
    }

    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.config.token {
            Some(token) => request.header("Authorization", &format!("Bearer {token}")),
            None => request,
        }
    }

    /// Sends with `send`, retrying once after a pause when the connection itself failed; reads
    /// a successful body fully (with the binary header length when given).
    fn with_retry(
        &self,
        send: impl Fn(&Self) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(Vec<u8>, Option<usize>), RemoteError> {
        let mut attempt = send(self);
        if attempt.as_ref().is_err_and(is_connection_failure) {
            std::thread::sleep(RETRY_BACKOFF);
            attempt = send(self);
        }
        let mut response = attempt.map_err(|error| self.transport_error(&error))?;
        let status = response.status().as_u16();
        let header_length = response
            .headers()
            .get(protocol::HEADER_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        let body =
            response.body_mut().with_config().limit(MAX_RESPONSE_BYTES).read_to_vec().map_err(
                |error| match error {
                    ureq::Error::Timeout(_) => self.transport_error(&error),
                    cause => self.protocol_error(ProtocolProblem::Unreadable { status, cause }),
                },
            )?;
        if !(200..300).contains(&status) {
            return Err(RemoteError::Http {
                url: self.config.url.clone(),
                model: self.name.clone(),
                status,
                message: protocol::error_message(&body),
            });
        }
        Ok((body, header_length))
    }

    fn transport_error(&self, error: &ureq::Error) -> RemoteError {
        let reason = match error {
            ureq::Error::Timeout(what) => format!("timed out ({what:?})"),
            other => other.to_string(),
        };
        RemoteError::Unreachable {
            url: self.config.url.clone(),
            for_model: format!(" for model `{}`", self.name),
            reason,
        }
    }

    fn protocol_error(&self, problem: ProtocolProblem) -> RemoteError {
        let problem = Box::new(problem);
        RemoteError::Protocol { url: self.config.url.clone(), model: self.name.clone(), problem }
    }
}

/// Failures where no request reached the server, so sending again is safe.
fn is_connection_failure(error: &ureq::Error) -> bool {
    matches!(error, ureq::Error::ConnectionFailed | ureq::Error::HostNotFound | ureq::Error::Io(_))
}

/// What a server says about itself, for `doctor`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerReport {
    /// Server URL.
    pub url: String,
    /// Whether `/v2/health/ready` answered 200.
    pub ready: Result<(), String>,
    /// Server name and version from `GET /v2`, when given.
    pub server: Option<String>,
    /// Models the server lists (the repository index, when the server allows listing).
    pub models: Result<Vec<String>, String>,
}

/// Checks the server of `config` and lists its models.
pub fn check_server(config: &RemoteConfig) -> ServerReport {
    let agent: ureq::Agent = crate::http::agent_config()
        .timeout_connect(Some(config.connect_timeout))
        .timeout_global(Some(config.request_timeout.min(Duration::from_secs(10))))
        .http_status_as_error(false)
        .build()
        .into();
    let with_token =
        |request: ureq::RequestBuilder<ureq::typestate::WithoutBody>| match &config.token {
            Some(token) => request.header("Authorization", &format!("Bearer {token}")),
            None => request,
        };
    let read = |response: Result<ureq::http::Response<ureq::Body>, ureq::Error>| {
        let mut response = response.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_vec().map_err(|e| e.to_string())?;
        if status == 200 {
            Ok(body)
        } else {
            Err(format!("HTTP {status}: {}", protocol::error_message(&body)))
        }
    };
    let ready =
        read(with_token(agent.get(format!("{}/v2/health/ready", config.url))).call()).map(drop);
    let server =
        read(with_token(agent.get(format!("{}/v2", config.url))).call()).ok().and_then(|body| {
            let value: serde_json::Value = serde_json::from_slice(&body).ok()?;
            Some(format!("{} {}", value["name"].as_str()?, value["version"].as_str().unwrap_or("")))
        });
    let models = read({
        let request = agent.post(format!("{}/v2/repository/index", config.url));
        let request = match &config.token {
            Some(token) => request.header("Authorization", &format!("Bearer {token}")),
            None => request,
        };
        request.send(&b"{}"[..])
    })
    .and_then(|body| {
        let list: Vec<serde_json::Value> =
            serde_json::from_slice(&body).map_err(|e| format!("not a model index: {e}"))?;
        Ok(list.iter().filter_map(|m| m["name"].as_str().map(str::to_owned)).collect())
    });
    ServerReport { url: config.url.clone(), ready, server, models }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_expand_diffusion_and_all() {
        let diffusion = RemoteSelection::parse("diffusion");
        assert!(diffusion.contains("unet") && diffusion.contains("taesd_decoder"));
        assert!(!diffusion.contains("ade20k-deeplabv3-mnv2"));
        let mixed = RemoteSelection::parse("diffusion, ade20k-deeplabv3-mnv2");
        assert!(mixed.contains("ade20k-deeplabv3-mnv2") && mixed.contains("vae_encoder"));
        assert!(RemoteSelection::parse("all").contains("anything"));
        assert!(!RemoteSelection::parse("").contains("unet"));
    }

    #[test]
    fn urls_are_checked_and_names_prefixed() {
        assert!(RemoteConfig::new("gpu-box:8000").is_err());
        let mut config = RemoteConfig::new("http://gpu-box:8000/").expect("valid");
        assert_eq!(config.url, "http://gpu-box:8000");
        config.prefix = "sdturbo-".into();
        assert_eq!(config.remote_name("unet"), "sdturbo-unet");
        config.version = Some("3".into());
        assert_eq!(config.model_url("x"), "http://gpu-box:8000/v2/models/x/versions/3");
    }

    /// A server that answers `status` to everything and hands back the first request's
    /// `Authorization` header.
    fn one_answer_server(status: &'static str) -> (String, std::sync::mpsc::Receiver<String>) {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (sender, received) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(2) {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut authorization = String::new();
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line.trim() != "" {
                    if line.to_ascii_lowercase().starts_with("authorization:") {
                        authorization = line["authorization:".len()..].trim().to_owned();
                    }
                    line.clear();
                }
                let _ = sender.send(authorization);
                let body = r#"{"error":"missing or bad token"}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (url, received)
    }

    #[test]
    fn the_token_is_sent_as_a_bearer_and_a_refusal_is_named() {
        let (url, received) = one_answer_server("401 Unauthorized");
        let mut config = RemoteConfig::new(&url).expect("url");
        config.token = Some("s3cret".into());
        let error = RemoteModel::open(&config, "unet").expect_err("refused");
        assert_eq!(received.recv().expect("a request"), "Bearer s3cret");
        let text = error.to_string();
        assert!(
            text.contains(&url) && text.contains("401") && text.contains("bad token"),
            "{text}"
        );
        assert!(!error.is_server_failure(), "a refusal is not worth a local fallback");
    }

    #[test]
    fn a_closed_port_is_unreachable_after_one_retry() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let config = RemoteConfig::new(&format!("http://127.0.0.1:{port}")).expect("url");
        let error = RemoteModel::open(&config, "unet").expect_err("down");
        assert!(error.is_server_failure());
        let text = error.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")) && text.contains("unet"), "{text}");
    }
}
