//! The one place HTTP clients are configured, so downloads and inference servers trust the same
//! certificates: the operating system's trust store on desktops, which is where a company proxy
//! or a private server installs its authority, and Mozilla's bundled roots on Android, where the
//! system verifier needs the Java side the app does not have.

use ureq::{
    config::ConfigBuilder,
    tls::{RootCerts, TlsConfig},
    typestate::AgentScope,
};

/// An agent configuration with the platform's certificate roots; callers add their timeouts.
pub(crate) fn agent_config() -> ConfigBuilder<AgentScope> {
    ureq::Agent::config_builder().tls_config(TlsConfig::builder().root_certs(roots()).build())
}

#[cfg(not(target_os = "android"))]
fn roots() -> RootCerts {
    RootCerts::PlatformVerifier
}

#[cfg(target_os = "android")]
fn roots() -> RootCerts {
    RootCerts::WebPki
}
