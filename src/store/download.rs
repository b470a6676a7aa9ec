//! HTTP(S) download of one model file into the cache: streamed to a temporary file next to its
//! destination, hashed on the way, checked, then atomically renamed. A bad download never
//! reaches the destination path.

use std::{
    fs,
    io::{self, Read, Write},
    path::Path,
    time::Duration,
};

use sha2::{Digest, Sha256};

use super::StoreError;

/// Network limits for downloads.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Limit for connecting and for the server to start answering.
    pub connect_timeout: Duration,
    /// Longest silence allowed between two reads of the body.
    pub read_timeout: Duration,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(30),
            progress: true,
        }
    }
}

/// What a finished download contained.
pub struct Downloaded {
    /// sha256 of the bytes written.
    pub sha256: String,
}

/// Downloads `url` to `dest`. `expected_sha256`/`expected_size` are checked before the rename;
/// on any failure the temporary file is removed and `dest` is untouched.
pub fn download_to(
    model_id: &str,
    url: &str,
    dest: &Path,
    expected_sha256: Option<&str>,
    expected_size: Option<u64>,
    options: &DownloadOptions,
) -> Result<Downloaded, StoreError> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    let io_error = |source: io::Error| StoreError::io(model_id, parent, source);
    fs::create_dir_all(parent).map_err(io_error)?;

    let agent: ureq::Agent = crate::http::agent_config()
        .timeout_connect(Some(options.connect_timeout))
        .timeout_recv_response(Some(options.connect_timeout))
        .timeout_per_read(Some(options.read_timeout))
        .build()
        .into();
    let response = agent.get(url).call().map_err(|e| match e {
        ureq::Error::StatusCode(status) => {
            StoreError::Http { id: model_id.to_owned(), url: url.to_owned(), status }
        }
        ureq::Error::Timeout(_) => {
            StoreError::Timeout { id: model_id.to_owned(), url: url.to_owned() }
        }
        other => StoreError::Network {
            id: model_id.to_owned(),
            url: url.to_owned(),
            message: other.to_string(),
        },
    })?;
    let total = response.body().content_length().or(expected_size);
    let mut body = response.into_body().into_reader();

    let bar = progress_bar(options.progress, total, dest);
    let mut temp = tempfile::Builder::new()
        .prefix(".download-")
        .suffix(".part")
        .tempfile_in(parent)
        .map_err(io_error)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = body.read(&mut buffer).map_err(|e| read_error(model_id, url, e))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        temp.write_all(&buffer[..read]).map_err(io_error)?;
        size += read as u64;
        bar.set_position(size);
    }
    temp.as_file().sync_all().map_err(io_error)?;
    bar.finish_and_clear();

    if let Some(expected) = expected_size
        && expected != size
    {
        return Err(StoreError::SizeMismatch {
            id: model_id.to_owned(),
            location: url.to_owned(),
            expected,
            actual: size,
        });
    }
    let sha256 = hex::encode(hasher.finalize());
    if let Some(expected) = expected_sha256
        && expected != sha256
    {
        return Err(StoreError::HashMismatch {
            id: model_id.to_owned(),
            location: url.to_owned(),
            expected: expected.to_owned(),
            actual: sha256,
        });
    }
    temp.persist(dest).map_err(|e| io_error(e.error))?;
    Ok(Downloaded { sha256 })
}

fn read_error(model_id: &str, url: &str, error: io::Error) -> StoreError {
    let text = error.to_string();
    if error.kind() == io::ErrorKind::TimedOut || text.contains("timeout") {
        StoreError::Timeout { id: model_id.to_owned(), url: url.to_owned() }
    } else {
        StoreError::Network { id: model_id.to_owned(), url: url.to_owned(), message: text }
    }
}

fn progress_bar(enabled: bool, total: Option<u64>, dest: &Path) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match total {
        Some(total) => indicatif::ProgressBar::new(total),
        None => indicatif::ProgressBar::no_length(),
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    bar.set_message(name);
    bar
}
