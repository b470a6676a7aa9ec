//! Models that ship inside the app (an Android APK's assets): copied into the cache on first
//! start, and checked against the manifest as they are copied, so a damaged package never feeds
//! a model its wrong bytes.

use std::io::Read;

use super::{FileState, ModelStore, Origin, StoreError, digest::sha256_file, manifest::ModelFile};

/// What became of one packaged file.
#[derive(Debug)]
pub enum PackagedFile {
    /// A good copy was in the cache already; the package was not read.
    AlreadyCached,
    /// Copied from the package into the cache, and checked.
    Installed,
    /// The package does not hold it.
    NotPackaged,
    /// The package's copy is not the file the manifest names: refused, nothing kept.
    Refused(StoreError),
}

impl ModelStore {
    /// Installs every file of the models the built-in presets need (`default = true`) from the
    /// app's package. `open` gives a file's bytes by its manifest path, or `None` where the
    /// package lacks it; `package` names the package in messages. Returns each file's fate.
    pub fn install_packaged<R: Read>(
        &self,
        package: &str,
        mut open: impl FnMut(&str) -> Option<R>,
    ) -> Vec<(String, PackagedFile)> {
        let files = self
            .manifest()
            .models
            .iter()
            .filter(|m| m.default)
            .flat_map(|m| m.files.iter().map(move |file| (m.id.as_str(), file)));
        files
            .map(|(id, file)| {
                let fate =
                    match self.check(id, file, &self.cache_dir.join(&file.path), Origin::Cache) {
                        Ok(FileState::Present { .. }) => PackagedFile::AlreadyCached,
                        Ok(_) => match open(&file.path) {
                            None => PackagedFile::NotPackaged,
                            Some(mut bytes) => {
                                match self.install_one(id, file, package, &mut bytes) {
                                    Ok(()) => PackagedFile::Installed,
                                    Err(error) => PackagedFile::Refused(error),
                                }
                            }
                        },
                        Err(error) => PackagedFile::Refused(error),
                    };
                (file.path.clone(), fate)
            })
            .collect()
    }

    fn install_one(
        &self,
        id: &str,
        file: &ModelFile,
        package: &str,
        bytes: &mut impl Read,
    ) -> Result<(), StoreError> {
        let dest = self.cache_dir.join(&file.path);
        let parent = dest.parent().unwrap_or(&self.cache_dir);
        let io_error = |e| StoreError::io(id, parent, e);
        std::fs::create_dir_all(parent).map_err(io_error)?;
        let mut temp = tempfile::Builder::new()
            .prefix(".packaged-")
            .suffix(".part")
            .tempfile_in(parent)
            .map_err(io_error)?;
        std::io::copy(bytes, &mut temp).map_err(io_error)?;
        temp.as_file().sync_all().map_err(io_error)?;
        let (actual, size) = sha256_file(temp.path()).map_err(io_error)?;
        if !file.accepts(&actual, size) {
            // The temporary copy is removed when `temp` drops.
            return Err(StoreError::HashMismatch {
                id: id.to_owned(),
                location: format!("{package} ({})", file.path),
                expected: file.sha256.clone().unwrap_or_default(),
                actual,
            });
        }
        temp.persist(&dest).map_err(|e| io_error(e.error))?;
        self.verified.forget(&dest);
        tracing::info!(model = id, from = package, "installed into the cache");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::manifest::Manifest;

    const MANIFEST: &str = r#"
[[model]]
id = "tiny"
task = "segmentation"
name = "tiny"
license = "test"
source = "test"
default = true
[[model.files]]
path = "tiny/model.onnx"
sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
size = 5
[[model]]
id = "optional"
task = "segmentation"
name = "not needed by the presets"
license = "test"
source = "test"
[[model.files]]
path = "optional/model.onnx"
sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
size = 5
"#;

    fn store(cache: &std::path::Path) -> ModelStore {
        ModelStore::new(Manifest::parse(MANIFEST, "test").expect("manifest"), cache.into(), vec![])
    }

    #[test]
    fn a_packaged_model_is_installed_once_and_then_found_in_the_cache() {
        let cache = tempfile::tempdir().expect("temp dir");
        let store = store(cache.path());
        let mut opened = Vec::new();
        let fates = store.install_packaged("the APK", |path| {
            opened.push(path.to_owned());
            Some(&b"hello"[..])
        });
        assert!(
            matches!(fates.as_slice(), [(path, PackagedFile::Installed)] if path == "tiny/model.onnx")
        );
        assert_eq!(opened, ["tiny/model.onnx"], "only what the presets need is read");
        assert_eq!(
            store.locate("tiny").expect("found").paths,
            [cache.path().join("tiny/model.onnx")]
        );
        let again =
            store.install_packaged("the APK", |_| -> Option<&[u8]> { panic!("read again") });
        assert!(matches!(again.as_slice(), [(_, PackagedFile::AlreadyCached)]));
    }

    #[test]
    fn a_corrupt_packaged_model_is_refused_and_nothing_of_it_is_kept() {
        let cache = tempfile::tempdir().expect("temp dir");
        let store = store(cache.path());
        let fates = store.install_packaged("the APK", |_| Some(&b"hellO"[..]));
        let [(_, PackagedFile::Refused(error))] = fates.as_slice() else {
            panic!("a corrupt asset was not refused: {fates:?}")
        };
        let message = error.to_string();
        assert!(message.contains("the APK (tiny/model.onnx)"), "{message}");
        assert!(message.contains("2cf24dba5fb0a30e"), "{message}");
        let left: Vec<_> = walk(cache.path());
        assert!(
            left.iter().all(|p| !p.contains("model.onnx") && !p.ends_with(".part")),
            "{left:?}"
        );
        assert!(matches!(store.locate("tiny"), Err(StoreError::Missing { .. })));
    }

    #[test]
    fn a_model_missing_from_the_package_is_said_so() {
        let cache = tempfile::tempdir().expect("temp dir");
        let fates = store(cache.path()).install_packaged("the APK", |_| -> Option<&[u8]> { None });
        assert!(matches!(fates.as_slice(), [(_, PackagedFile::NotPackaged)]));
    }

    fn walk(dir: &std::path::Path) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                found.extend(walk(&path));
            } else {
                found.push(path.display().to_string());
            }
        }
        found
    }
}
