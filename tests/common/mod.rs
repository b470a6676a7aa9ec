//! Shared test helpers: the real model mirror, the real photos, and reference files.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use dreamlens::store::{Manifest, ModelStore};

pub mod browser;
pub mod triton;

/// Class labels of the 32-class ADE20K segmentation model, index = class id.
pub const ADE_LABELS: [&str; 32] = [
    "other",
    "wall",
    "building",
    "sky",
    "floor",
    "tree",
    "ceiling",
    "road",
    "bed",
    "windowpane",
    "grass",
    "cabinet",
    "sidewalk",
    "person",
    "earth",
    "door",
    "table",
    "mountain",
    "plant",
    "curtain",
    "chair",
    "car",
    "water",
    "painting",
    "sofa",
    "shelf",
    "house",
    "sea",
    "mirror",
    "rug",
    "field",
    "armchair",
];

/// Project root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The mirror folder holding the real models (`DREAMLENS_MODEL_DIRS`, else `../shared/models`).
pub fn models_dir() -> PathBuf {
    let dir = std::env::var_os("DREAMLENS_MODEL_DIRS")
        .and_then(|v| std::env::split_paths(&v).next())
        .unwrap_or_else(|| root().join("../shared/models"));
    assert!(
        dir.join("obs-bgr").is_dir(),
        "real models not found at {}; set DREAMLENS_MODEL_DIRS to the shared models folder",
        dir.display()
    );
    dir
}

/// The real test photos.
pub fn images_dir() -> PathBuf {
    let dir = models_dir().join("../images/ade20k");
    assert!(dir.is_dir(), "test photos not found at {}", dir.display());
    dir
}

/// A store over the real mirror with an empty private cache.
pub fn mirror_store(cache: &Path) -> ModelStore {
    ModelStore::new(Manifest::builtin(), cache.to_owned(), vec![models_dir()])
}

/// Loads one of the real photos.
pub fn photo(name: &str) -> image::RgbImage {
    image::open(images_dir().join(format!("{name}.jpg"))).expect("photo decodes").to_rgb8()
}

/// A reference file written by `tests/golden/make_golden.py`.
pub fn golden(name: &str) -> PathBuf {
    root().join("tests/golden").join(name)
}

/// A 16-bit grey golden as values in 0..1.
pub fn golden_u16(name: &str) -> (u32, u32, Vec<f32>) {
    let image = image::open(golden(name)).expect("golden decodes").to_luma16();
    let (w, h) = image.dimensions();
    (w, h, image.into_raw().into_iter().map(|v| v as f32 / 65535.0).collect())
}

/// A float32 little-endian `.npy` golden: shape and values.
pub fn golden_npy(name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(golden(name)).expect("golden exists");
    assert_eq!(&bytes[..6], b"\x93NUMPY", "not an npy file");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).expect("ascii header");
    assert!(header.contains("'descr': '<f4'"), "expected float32: {header}");
    let shape_text = &header[header.find("'shape': (").expect("shape") + 10..];
    let shape: Vec<usize> = shape_text[..shape_text.find(')').expect("shape end")]
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let values = bytes[10 + header_len..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (shape, values)
}

/// Mean absolute difference.
pub fn mean_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "sizes differ");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}

/// ||a - b|| / ||b||.
pub fn relative_l2(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "sizes differ");
    let diff: f32 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum();
    let norm: f32 = b.iter().map(|y| y * y).sum();
    (diff / norm.max(1e-12)).sqrt()
}

/// A 12-frame 320x240 H.264 clip of ffmpeg's moving test pattern.
pub fn test_clip(dir: &Path) -> PathBuf {
    let clip = dir.join("clip.mp4");
    let status = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=12",
            "-frames:v",
            "12",
        ])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&clip)
        .status()
        .expect("ffmpeg is installed (scripts/install-deps.sh)");
    assert!(status.success());
    clip
}

/// Copies the folder `from` into `to`, recursively.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A virtual X display, stopped when dropped.
pub struct Xvfb {
    child: std::process::Child,
    /// Its name, for `DISPLAY`.
    pub display: String,
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a virtual 1280x800 display and waits until it accepts clients. Xvfb picks a free
/// display number itself and writes it to our pipe once it is ready (`-displayfd`), so tests
/// running side by side, or a stale socket from an earlier run, never collide.
pub fn xvfb() -> Xvfb {
    use std::io::BufRead;
    let mut child = Command::new("Xvfb")
        .args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("Xvfb is installed (scripts/install-deps.sh)");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped");
    std::io::BufReader::new(stdout).read_line(&mut line).expect("Xvfb's display number");
    let number: u32 = match line.trim().parse() {
        Ok(number) => number,
        Err(_) => {
            let status = child.wait().expect("Xvfb state");
            panic!("Xvfb exited with {status} before it was ready");
        }
    };
    Xvfb { child, display: format!(":{number}") }
}

/// The JSON a run wrote with `--summary-json PATH`.
pub fn read_summary(path: &std::path::Path) -> serde_json::Value {
    let bytes = std::fs::read(path)
        .unwrap_or_else(|e| panic!("no summary written at {}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("the summary is JSON")
}

/// A session summary's `picture_rect`, `[x0, y0, x1, y1]`: where the picture was drawn (window
/// pixels natively, CSS pixels in the page), in the area the controls leave free.
pub fn picture_rect(summary: &serde_json::Value) -> [f64; 4] {
    let rect: Vec<f64> = summary["picture_rect"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_f64())
        .collect();
    rect.try_into().unwrap_or_else(|_| panic!("no picture_rect in {summary}"))
}

/// The centre of a 13x13 patch of one furniture class in `classes` (the model's grid), as
/// fractions of the picture, with that class's label.
pub fn furniture_patch(classes: &image::GrayImage) -> (f64, f64, &'static str) {
    furniture_patch_where(classes, |_, _, _| true)
}

/// As [`furniture_patch`], the first patch for which `accept(u, v, class)` holds.
pub fn furniture_patch_where(
    classes: &image::GrayImage,
    accept: impl Fn(f64, f64, u8) -> bool,
) -> (f64, f64, &'static str) {
    let (w, h) = classes.dimensions();
    for cy in (6..h - 6).rev() {
        for cx in 6..w - 6 {
            let id = classes.get_pixel(cx, cy)[0];
            let label = ADE_LABELS[usize::from(id)];
            let uniform = (cy - 6..=cy + 6)
                .all(|yy| (cx - 6..=cx + 6).all(|xx| classes.get_pixel(xx, yy)[0] == id));
            let u = (f64::from(cx) + 0.5) / f64::from(w);
            let v = (f64::from(cy) + 0.5) / f64::from(h);
            if dreamlens::scene::Region::of_label(label) == dreamlens::scene::Region::Furniture
                && uniform
                && accept(u, v, id)
            {
                return (u, v, label);
            }
        }
    }
    panic!("no 13x13 patch of one furniture class in the native class map");
}
