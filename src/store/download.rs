//! HTTP(S) download of one model file into the cache: streamed to a `.part` file next to its
//! destination, hashed on the way, checked, then atomically renamed. A bad download never
//! reaches the destination path. A download cut off by the network keeps its `.part` file, and
//! the next fetch asks the server only for the rest (an HTTP range request).

use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
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
    /// Counts the bytes that arrive and can pause the download (an app's progress bar).
    pub watch: Option<Arc<DownloadProgress>>,
}

/// A download's progress, shared with whoever shows it. Pausing keeps what has arrived, and
/// the next fetch resumes from there.
#[derive(Debug, Default)]
pub struct DownloadProgress {
    /// Bytes of the files finished so far.
    finished: AtomicU64,
    /// Bytes of the file being downloaded now (its resumed part included); a file tried again,
    /// from another URL or from its start, starts this count again rather than adding to it.
    current: AtomicU64,
    paused: AtomicBool,
}

impl DownloadProgress {
    /// Bytes of the model's missing files on this device so far, resumed parts included.
    pub fn received(&self) -> u64 {
        self.finished.load(Ordering::Relaxed) + self.current.load(Ordering::Relaxed)
    }

    /// Asks the download to stop before its next read.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::Relaxed);
    }

    fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    fn at(&self, bytes: u64) {
        self.current.store(bytes, Ordering::Relaxed);
    }

    fn file_done(&self, bytes: u64) {
        self.finished.fetch_add(bytes, Ordering::Relaxed);
        self.current.store(0, Ordering::Relaxed);
    }
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(20),
            read_timeout: Duration::from_secs(30),
            progress: true,
            watch: None,
        }
    }
}

/// What a finished download contained.
pub struct Downloaded {
    /// sha256 of the bytes written.
    pub sha256: String,
}

/// Downloads `url` to `dest`, resuming a `.part` file an earlier attempt left.
/// `expected_sha256`/`expected_size` are checked before the rename; a download whose bytes are
/// wrong is deleted and `dest` is untouched.
pub fn download_to(
    model_id: &str,
    url: &str,
    dest: &Path,
    expected_sha256: Option<&str>,
    expected_size: Option<u64>,
    options: &DownloadOptions,
) -> Result<Downloaded, StoreError> {
    let watch = options.watch.as_deref();
    if watch.is_some_and(DownloadProgress::paused) {
        return Err(StoreError::Paused { id: model_id.to_owned() });
    }
    let parent = dest.parent().unwrap_or(Path::new("."));
    let io_error = |source: io::Error| StoreError::io(model_id, parent, source);
    fs::create_dir_all(parent).map_err(io_error)?;
    let part = part_path(dest);
    let already = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let already = if expected_size.is_some_and(|size| already >= size) {
        // Complete or longer than the file can be: nothing to resume.
        fs::remove_file(&part).map_err(io_error)?;
        0
    } else {
        already
    };

    let mut request = agent(options).get(url);
    if already > 0 {
        request = request.header("Range", &format!("bytes={already}-"));
    }
    let response = request.call().map_err(|e| request_error(model_id, url, &part, e))?;
    // 206 continues the part; any other success is the whole file from its first byte.
    let resumed = already > 0 && response.status().as_u16() == 206;
    let start = if resumed { already } else { 0 };
    let total = response.body().content_length().map(|rest| start + rest).or(expected_size);
    let mut body = response.into_body().into_reader();

    let mut hasher = Sha256::new();
    let mut file = if resumed {
        hash_into(&mut hasher, &part).map_err(io_error)?;
        OpenOptions::new().append(true).open(&part).map_err(io_error)?
    } else {
        File::create(&part).map_err(io_error)?
    };
    let bar = progress_bar(options.progress, total, dest);
    bar.set_position(start);
    watch.inspect(|w| w.at(start));
    let mut size = start;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        if watch.is_some_and(DownloadProgress::paused) {
            // Kept, synced, for the next fetch to resume.
            file.sync_all().map_err(io_error)?;
            return Err(StoreError::Paused { id: model_id.to_owned() });
        }
        // A network failure keeps the part for the next attempt; a local one does not.
        let read = body.read(&mut buffer).map_err(|e| read_error(model_id, url, e))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        if let Err(error) = file.write_all(&buffer[..read]) {
            let _ = fs::remove_file(&part);
            return Err(io_error(error));
        }
        size += read as u64;
        bar.set_position(size);
        watch.inspect(|w| w.at(size));
    }
    file.sync_all().map_err(io_error)?;
    drop(file);
    bar.finish_and_clear();

    let sha256 = hex::encode(hasher.finalize());
    if let Err(error) = check(model_id, url, (size, &sha256), (expected_size, expected_sha256)) {
        let _ = fs::remove_file(&part);
        return Err(error);
    }
    fs::rename(&part, dest).map_err(io_error)?;
    watch.inspect(|w| w.file_done(size));
    Ok(Downloaded { sha256 })
}

/// Whether the `(size, sha256)` downloaded from `url` are the ones pinned, where pinned.
fn check(
    model_id: &str,
    url: &str,
    (size, sha256): (u64, &str),
    (expected_size, expected_sha256): (Option<u64>, Option<&str>),
) -> Result<(), StoreError> {
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
    if let Some(expected) = expected_sha256
        && expected != sha256
    {
        return Err(StoreError::HashMismatch {
            id: model_id.to_owned(),
            location: url.to_owned(),
            expected: expected.to_owned(),
            actual: sha256.to_owned(),
        });
    }
    Ok(())
}

/// How many bytes `url` holds, asked with a HEAD request (after redirects); `None` when the
/// server does not say.
pub(super) fn remote_size(
    model_id: &str,
    url: &str,
    options: &DownloadOptions,
) -> Result<Option<u64>, StoreError> {
    let response =
        agent(options).head(url).call().map_err(|error| call_error(model_id, url, error))?;
    let length = response.headers().get("content-length");
    Ok(length.and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()))
}

/// Bytes an earlier attempt left for `dest`, which the next fetch resumes from.
pub(super) fn partial_size(dest: &Path) -> u64 {
    fs::metadata(part_path(dest)).map_or(0, |m| m.len())
}

fn agent(options: &DownloadOptions) -> ureq::Agent {
    crate::http::agent_config()
        .timeout_connect(Some(options.connect_timeout))
        .timeout_recv_response(Some(options.connect_timeout))
        .timeout_per_read(Some(options.read_timeout))
        .build()
        .into()
}

/// Why a download request failed, as the store reports it. A refused resume (416) deletes the
/// part, so the next attempt starts again.
fn request_error(model_id: &str, url: &str, part: &Path, error: ureq::Error) -> StoreError {
    if let ureq::Error::StatusCode(416) = error {
        // The part no longer fits the file the server has: start again next time.
        let _ = fs::remove_file(part);
        let message = "the server refused to resume the download; fetch again".into();
        return StoreError::Network { id: model_id.to_owned(), url: url.to_owned(), message };
    }
    call_error(model_id, url, error)
}

/// A failed request as the store reports it: the status, a timeout, or the network's error.
fn call_error(model_id: &str, url: &str, error: ureq::Error) -> StoreError {
    let (id, url) = (model_id.to_owned(), url.to_owned());
    match error {
        ureq::Error::StatusCode(status) => StoreError::Http { id, url, status },
        ureq::Error::Timeout(_) => StoreError::Timeout { id, url },
        other => StoreError::Network { id, url, message: other.to_string() },
    }
}

/// Where the bytes of `dest` collect until they are checked.
fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

fn hash_into(hasher: &mut Sha256, path: &Path) -> io::Result<()> {
    let mut file = File::open(path)?;
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(());
        }
        hasher.update(&buffer[..read]);
    }
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
