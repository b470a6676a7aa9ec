//! The record of files already hashed: path, size, modification time and sha256, kept in the
//! cache folder (`verified.json`). A model file of gigabytes is hashed once, not at every
//! lookup; a file whose size or modification time changed is hashed again, so a replaced or
//! corrupted copy is still caught.

use std::{
    collections::BTreeMap,
    io,
    path::{Path, PathBuf},
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::UNIX_EPOCH,
};

use serde::{Deserialize, Serialize};

use super::digest::sha256_file;

/// File name of the record inside the cache folder.
const RECORD_FILE: &str = "verified.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    size: u64,
    modified_ns: u128,
    sha256: String,
}

/// Hashes of files as they were when hashed.
#[derive(Debug)]
pub struct VerifiedRecord {
    file: PathBuf,
    entries: Mutex<BTreeMap<PathBuf, Entry>>,
    bytes_hashed: AtomicU64,
}

impl VerifiedRecord {
    /// The record kept in `cache_dir` (empty when there is none or it cannot be read: then
    /// files are simply hashed again).
    pub fn open(cache_dir: &Path) -> Self {
        let file = cache_dir.join(RECORD_FILE);
        let entries = std::fs::read(&file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        Self { file, entries: Mutex::new(entries), bytes_hashed: AtomicU64::new(0) }
    }

    /// The sha256 and size of `path`: from the record when the file's size and modification
    /// time are unchanged, else by reading it (and recording the result).
    pub fn sha256(&self, path: &Path) -> io::Result<(String, u64)> {
        let metadata = std::fs::metadata(path)?;
        let modified_ns = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let key = path.canonicalize()?;
        let known = self.entries.lock().ok().and_then(|entries| entries.get(&key).cloned());
        if let Some(entry) = known
            && entry.size == metadata.len()
            && entry.modified_ns == modified_ns
            && modified_ns != 0
        {
            return Ok((entry.sha256, entry.size));
        }
        let (sha256, size) = sha256_file(path)?;
        self.bytes_hashed.fetch_add(size, Ordering::Relaxed);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key, Entry { size, modified_ns, sha256: sha256.clone() });
            self.save(&entries);
        }
        Ok((sha256, size))
    }

    /// Drops what is known about `path` (a copy that was deleted).
    pub fn forget(&self, path: &Path) {
        let key = path.canonicalize().unwrap_or_else(|_| path.to_owned());
        if let Ok(mut entries) = self.entries.lock()
            && entries.remove(&key).is_some()
        {
            self.save(&entries);
        }
    }

    /// Bytes read for hashing by this process so far.
    pub fn bytes_hashed(&self) -> u64 {
        self.bytes_hashed.load(Ordering::Relaxed)
    }

    /// Writes the record through a temporary file and a rename, so a reader never sees half of
    /// it; a cache folder that cannot be written only costs hashing again next time.
    fn save(&self, entries: &BTreeMap<PathBuf, Entry>) {
        let Some(dir) = self.file.parent() else { return };
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| tempfile::NamedTempFile::new_in(dir))
            .and_then(|mut temp| {
                serde_json::to_writer(&mut temp, entries).map_err(io::Error::other)?;
                temp.persist(&self.file).map(drop).map_err(|e| e.error)
            });
        if let Err(error) = written {
            tracing::debug!(
                "cannot save the verified-file record {}: {error}",
                self.file.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_hashed_once_until_it_changes() {
        let cache = tempfile::tempdir().expect("temp");
        let file = cache.path().join("model.onnx");
        std::fs::write(&file, b"weights").expect("write");
        let record = VerifiedRecord::open(cache.path());
        let first = record.sha256(&file).expect("hash");
        assert_eq!(record.bytes_hashed(), 7);
        // Another process (a new record read from disk) reads no bytes for it.
        let again = VerifiedRecord::open(cache.path());
        assert_eq!(again.sha256(&file).expect("hash"), first);
        assert_eq!(again.bytes_hashed(), 0, "the record answered");
        // Changed: hashed again, and the new hash is what comes back.
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(&file, b"Weights").expect("write");
        let changed = again.sha256(&file).expect("hash");
        assert_ne!(changed.0, first.0);
        assert_eq!(again.bytes_hashed(), 7);
    }
}
