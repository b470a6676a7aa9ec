//! Hybrid mode as a setting: the diffusion model runs on the inference server the user names
//! on the panel (or `--remote` for one run), the camera and the other models stay on the device.

use std::sync::Arc;

use crate::inference::remote::{RemoteConfig, RemoteError};

use super::LiveApp;

/// The server configuration for `url`, keeping `template`'s other choices (which models go,
/// prefix, token, timeouts: `--remote-*`), else the defaults with `DREAMLENS_REMOTE_TOKEN`;
/// `None` for an empty URL (everything local).
pub(super) fn remote_for(
    url: &str,
    template: Option<&RemoteConfig>,
) -> Result<Option<Arc<RemoteConfig>>, RemoteError> {
    if url.trim().is_empty() {
        return Ok(None);
    }
    let named = RemoteConfig::new(url)?;
    let config = match template {
        Some(template) => RemoteConfig { url: named.url, ..template.clone() },
        None => RemoteConfig { token: RemoteConfig::token_from_env(), ..named },
    };
    Ok(Some(Arc::new(config)))
}

impl LiveApp {
    /// Uses the server `url` names (none when empty), keeps it in the settings, and opens the
    /// effects again with it; a URL that is no server's is a notice, and nothing changes.
    pub(super) fn use_inference_server(&mut self, url: &str) {
        match remote_for(url, self.remote_template.as_deref()) {
            Ok(remote) => {
                url.clone_into(&mut self.settings.inference_server);
                self.notify(match &remote {
                    Some(config) => {
                        format!("Hybrid mode: the diffusion model runs on {}", config.url)
                    }
                    None => "Everything runs on this device".into(),
                });
                self.session_options.remote = remote;
                self.models_changed = true;
                // What is downloaded depends on what the server runs: offer it afresh.
                if !self.download.as_ref().is_some_and(|d| d.is_busy()) {
                    self.download = None;
                }
            }
            Err(error) => self.notify(format!("{error}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_named_on_the_panel_keeps_the_command_lines_other_choices() {
        assert_eq!(remote_for("  ", None).expect("empty is local"), None);
        assert!(remote_for("gpu-box:8000", None).is_err(), "not a URL");
        let fresh = remote_for("http://gpu-box:8000/", None).expect("valid").expect("a server");
        assert_eq!(fresh.url, "http://gpu-box:8000");
        let mut template = RemoteConfig::new("http://first:8000").expect("valid");
        template.prefix = "sdturbo-".into();
        let replaced = remote_for("https://second:8443", Some(&template)).expect("valid");
        let replaced = replaced.expect("a server");
        assert_eq!(
            (replaced.url.as_str(), replaced.prefix.as_str()),
            ("https://second:8443", "sdturbo-")
        );
    }
}
