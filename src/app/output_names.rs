//! Names for the files the live window writes on its own (recordings, snapshots): stamped with
//! the time, and claimed with an exclusive create so two started in the same instant, or a file
//! already there, are never overwritten.

use std::{
    fs::OpenOptions,
    io,
    path::{Path, PathBuf},
};

/// Creates an empty `dreamlens-<stamp>.<extension>` in `dir` (or `-2`, `-3`... after it when
/// taken) and returns its path; the caller then writes over its own, fresh file.
pub fn claim(dir: &Path, stamp: u128, extension: &str) -> io::Result<PathBuf> {
    for attempt in 1..=1000u32 {
        let name = match attempt {
            1 => format!("dreamlens-{stamp}.{extension}"),
            n => format!("dreamlens-{stamp}-{n}.{extension}"),
        };
        let path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => return Ok(path),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("1000 files named dreamlens-{stamp}* already exist in {}", dir.display()),
    ))
}

/// Milliseconds since the Unix epoch, for file names.
pub fn stamp_now() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_claimed_in_the_same_instant_never_collide() {
        let dir = tempfile::tempdir().expect("temp");
        std::fs::write(dir.path().join("dreamlens-7.mp4"), b"an earlier recording").expect("write");
        let first = claim(dir.path(), 7, "mp4").expect("claims");
        let second = claim(dir.path(), 7, "mp4").expect("claims");
        assert_eq!(first, dir.path().join("dreamlens-7-2.mp4"));
        assert_eq!(second, dir.path().join("dreamlens-7-3.mp4"));
        let kept = std::fs::read(dir.path().join("dreamlens-7.mp4")).expect("read");
        assert_eq!(kept, b"an earlier recording", "the existing file is untouched");
    }
}
