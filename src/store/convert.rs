//! Runs a converter the app carries on a public source file. The converters are Python scripts
//! run with pinned tools (`python`), so a conversion is byte for byte the one the manifest pins.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
};

use super::manifest::{Conversion, Converter};
use crate::python::PythonError;

const TFLITE_SEGMENTER: &str = include_str!("../../assets/convert/tflite_segmenter.py");
const TOOLS: &str = include_str!("../../assets/convert/requirements.txt");

/// Converts `source` into `output` as `conversion` says; returns why it could not.
pub(super) fn run(
    conversion: &Conversion,
    source: &Path,
    output: &Path,
) -> Result<(), PythonError> {
    let tools = tools()?;
    let (name, script) = match conversion.converter {
        Converter::TfliteSegmenter => ("tflite_segmenter.py", TFLITE_SEGMENTER),
    };
    let folder = output.parent().unwrap_or(Path::new("."));
    let script_file = tempfile::Builder::new()
        .prefix(".converter-")
        .suffix(name)
        .tempfile_in(folder)
        .map_err(|e| PythonError::Write { path: folder.to_owned(), reason: e.to_string() })?;
    std::fs::write(script_file.path(), script).map_err(|e| PythonError::Write {
        path: script_file.path().to_owned(),
        reason: e.to_string(),
    })?;
    let mut args: Vec<&OsStr> = vec![source.as_os_str(), output.as_os_str()];
    args.extend(conversion.arguments.iter().map(OsStr::new));
    let versions = crate::python::run_script(&tools, script_file.path(), &args)?;
    tracing::info!(tools = versions, "converted {}", source.display());
    Ok(())
}

/// The converter's pinned packages, installed on first use.
fn tools() -> Result<PathBuf, PythonError> {
    let target = crate::python::tools_dir("convert", TOOLS);
    let complete = |dir: &Path| dir.join("onnx").is_dir() && dir.join("tflite").is_dir();
    if !complete(&target) {
        crate::python::install_with_pip(&target, TOOLS, "the model converter's tools", complete)?;
    }
    Ok(target)
}
