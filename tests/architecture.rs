//! The dependency rules ARCHITECTURE.md states, checked on the sources so they stay true: each
//! heavy library is named only by the module that owns it, and the renderer knows nothing of
//! models, the store or capture.

use std::path::{Path, PathBuf};

/// (crate as named in code, the source paths allowed to name it).
const OWNERS: &[(&str, &[&str])] = &[
    ("ort", &["src/inference/"]),
    ("wgpu", &["src/render/", "src/app/", "src/controls/"]),
    ("winit", &["src/app/"]),
    ("egui", &["src/app/", "src/controls/"]),
    ("egui_wgpu", &["src/controls/"]),
    ("egui_winit", &["src/app/"]),
    ("ffmpeg_next", &["src/capture/"]),
    ("nokhwa", &["src/capture/"]),
    ("cpal", &["src/capture/"]),
    ("openh264", &["src/record/"]),
    ("muxide", &["src/record/"]),
    ("ureq", &["src/http.rs", "src/store/download.rs", "src/inference/remote/"]),
    // onnxruntime-web, behind ort: the browser's sessions only.
    ("ort_web", &["src/inference/web.rs"]),
    // The browser's APIs belong to the platform edge (web/), never to the core.
    ("web_sys", &[]),
    ("js_sys", &[]),
    ("wasm_bindgen", &[]),
    ("wasm_bindgen_futures", &[]),
];

/// Modules the renderer must not use.
const NOT_FOR_RENDER: &[&str] = &["crate::inference", "crate::store", "crate::capture"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Code lines (comments dropped) of a source file.
fn code(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("source")
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| l.split(" // ").next().unwrap_or("").to_owned())
        .collect()
}

/// True when `line` names `krate` as a path root (`krate::...` or `use krate`).
fn names(line: &str, krate: &str) -> bool {
    let bytes = line.as_bytes();
    let mut start = 0;
    while let Some(found) = line[start..].find(krate) {
        let at = start + found;
        let end = at + krate.len();
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let boundary_before =
            before.is_none_or(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b':'));
        let after = &line[end..];
        if boundary_before
            && (after.starts_with("::")
                || (line[..at].trim_end().ends_with("use")
                    && !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')))
        {
            return true;
        }
        start = end;
    }
    false
}

#[test]
fn heavy_libraries_are_named_only_by_their_owners() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    assert!(files.len() > 40, "the sources were found");
    let mut broken = Vec::new();
    for file in &files {
        let relative =
            file.strip_prefix(&root).expect("under root").to_string_lossy().replace('\\', "/");
        let lines = code(file);
        for (krate, owners) in OWNERS {
            if owners.iter().any(|o| relative.starts_with(o)) {
                continue;
            }
            if let Some(line) = lines.iter().find(|l| names(l, krate)) {
                broken.push(format!("{relative} uses `{krate}`: {}", line.trim()));
            }
        }
        if relative.starts_with("src/render/") {
            for module in NOT_FOR_RENDER {
                if let Some(line) = lines.iter().find(|l| l.contains(module)) {
                    broken.push(format!("{relative} uses {module}: {}", line.trim()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "dependency rules broken:\n{}", broken.join("\n"));
}

#[test]
fn the_checker_sees_a_use() {
    assert!(names("use ort::session::Session;", "ort"));
    assert!(names("    let x = wgpu::TextureFormat::Rgba8Unorm;", "wgpu"));
    assert!(names("use ureq;", "ureq"));
    assert!(!names("let sort::x = 1;", "ort"));
    assert!(!names("crate::render::wgpu_helpers::x", "wgpu"));
    assert!(!names("let report = 3;", "ort"));
}

#[test]
fn the_core_allows_unsafe_code_in_one_place() {
    // The crate denies `unsafe_code`; the one exception is the call that asks onnxruntime-web
    // for an execution provider by the name it knows (see `inference::web::append_provider`).
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    let allowing: Vec<String> = files
        .iter()
        .filter(|file| code(file).iter().any(|line| line.contains("allow(unsafe_code)")))
        .map(|file| file.strip_prefix(&root).expect("under root").to_string_lossy().into_owned())
        .collect();
    assert_eq!(allowing, ["src/inference/web.rs"], "unsafe code allowed outside its one place");
}
