//! Int8 variants the app made of manifest models (`dreamlens models quantize`), kept in the
//! cache beside a record that pins the variant's sha256, names the original it was made from
//! (by sha256), and says how it was made and how close it came to the original. A variant is
//! used only while its own bytes and its original's hash still match the record.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use super::Precision;

/// The calibration frames a variant was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// What the frames are.
    pub source: String,
    /// How many.
    pub frames: u32,
    /// sha256 over every input tensor, in order.
    pub sha256: String,
}

/// How a variant compared with its original on the validation frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    /// What was measured.
    pub measure: String,
    /// The mean over the frames.
    pub mean: f64,
    /// The worst frame.
    pub worst: f64,
    /// What the mean had to reach.
    pub threshold: f64,
    /// Validation frames.
    pub frames: u32,
}

/// How fast the variant ran beside its original (median over the validation frames, this
/// machine, the providers of the run that made it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Speed {
    /// The original, as the app runs it at fp32.
    pub original_ms: f64,
    /// The variant.
    pub variant_ms: f64,
}

/// The record kept beside a variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantRecord {
    /// The manifest model.
    pub model: String,
    /// The variant's precision.
    pub precision: Precision,
    /// sha256 of the variant file.
    pub sha256: String,
    /// sha256 of the original it was made from.
    pub source_sha256: String,
    /// How it was made: the quantizer and its settings.
    pub method: String,
    /// Tool versions (ONNX Runtime, onnx, numpy, Python).
    pub tools: BTreeMap<String, String>,
    /// The calibration frames.
    pub calibration: Calibration,
    /// The check it passed.
    pub agreement: Agreement,
    /// Its speed beside the original.
    pub speed: Speed,
}

/// Where the variant of `id` at `precision` and its record live under `cache_dir`.
pub fn paths(cache_dir: &Path, id: &str, precision: Precision) -> (PathBuf, PathBuf) {
    let folder = cache_dir.join("variants").join(id);
    (
        folder.join(format!("{}.onnx", precision.name())),
        folder.join(format!("{}.json", precision.name())),
    )
}

/// Why a variant's record cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file is there but is not a record.
    #[error("unreadable variant record {}: {cause}", path.display())]
    NotARecord {
        /// The record's file.
        path: PathBuf,
        /// serde's account.
        cause: serde_json::Error,
    },
    /// The file cannot be read.
    #[error("cannot read {}: {cause}", path.display())]
    Io {
        /// The record's file.
        path: PathBuf,
        /// The operating system's account.
        cause: std::io::Error,
    },
}

/// Reads a record; `None` when there is none.
pub fn read_record(path: &Path) -> Result<Option<VariantRecord>, RecordError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|cause| RecordError::NotARecord { path: path.to_owned(), cause }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(cause) => Err(RecordError::Io { path: path.to_owned(), cause }),
    }
}

/// Writes a record (the variant file must already be in place).
pub fn write_record(path: &Path, record: &VariantRecord) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    std::fs::write(path, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_names_round_trip() {
        for precision in [Precision::Fp32, Precision::Int8] {
            assert_eq!(precision.name().parse::<Precision>(), Ok(precision));
        }
        assert!("int4".parse::<Precision>().is_err());
    }

    #[test]
    fn variants_live_per_model_under_the_cache() {
        let (file, record) = paths(Path::new("/cache"), "sinet", Precision::Int8);
        assert_eq!(file, Path::new("/cache/variants/sinet/int8.onnx"));
        assert_eq!(record, Path::new("/cache/variants/sinet/int8.json"));
    }
}
