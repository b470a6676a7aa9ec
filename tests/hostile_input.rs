//! Bounded fuzzing of every text format a user can hand the app: presets, `.cube` LUTs, the
//! model manifest and a diffusion pipeline's config files. Each parser gets mutated copies of
//! real, valid files (bytes flipped, cut, duplicated, odd characters and huge numbers spliced
//! in) and must answer with a result, never a panic. Seeds are fixed, so a failure replays; the
//! iteration counts keep the whole file to seconds on a 2-core machine.

mod common;

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    path::Path,
};

use dreamlens::{
    diffusion::scheduler::{Scheduler, SchedulerConfig},
    effects::{lut::Lut, preset::Preset},
    store::Manifest,
};

/// xorshift64*: a tiny deterministic generator, enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Pieces that have broken parsers before: multi-byte characters, numbers out of every range,
/// TOML/JSON structure, and the keywords of the formats.
const SPLICES: &[&str] = &[
    "é",
    "€",
    "\u{0}",
    "\u{FEFF}",
    "#",
    "\"",
    "[",
    "]]",
    "{",
    "}",
    "=",
    ",",
    "\n",
    "-1",
    "0",
    "1e39",
    "-1e39",
    "NaN",
    "inf",
    "18446744073709551616",
    "4294967296",
    "LUT_3D_SIZE 129",
    "LUT_3D_SIZE 2",
    "DOMAIN_MAX 0 0 0",
    "[[layer]]",
    "effect = \"lut\"",
    "colour = \"#ffé00\"",
    "region = [\"\"]",
    "\"num_train_timesteps\": 0",
    "\"beta_end\": -1",
    "\"timestep_spacing\": \"trailing\"",
];

/// One random edit of `text`, at a character boundary so the result stays a `&str` input.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(chars.len() + 1);
        match rng.below(5) {
            0 if !chars.is_empty() => {
                let end = (at + 1 + rng.below(64)).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            1 => {
                let splice = SPLICES[rng.below(SPLICES.len())];
                chars.splice(at..at, splice.chars());
            }
            2 if !chars.is_empty() => {
                let at = at.min(chars.len() - 1);
                chars[at] = char::from_u32((rng.next() % 0x2FF) as u32).unwrap_or('?');
            }
            3 => chars.truncate(at),
            _ => {
                let end = (at + rng.below(200)).min(chars.len());
                let copy: Vec<char> = chars[at..end].to_vec();
                chars.splice(at..at, copy);
            }
        }
    }
    chars.into_iter().collect()
}

/// Runs `parse` on `iterations` mutations of each seed text; a panic fails with the input.
fn fuzz(name: &str, seeds: &[String], iterations: usize, mut parse: impl FnMut(&str)) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ name.len() as u64);
    for i in 0..iterations {
        let seed = &seeds[i % seeds.len()];
        let input = mutate(seed, &mut rng);
        if catch_unwind(AssertUnwindSafe(|| parse(&input))).is_err() {
            panic!("{name}: the parser panicked on input {i}:\n{input:?}");
        }
    }
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

#[test]
fn preset_parser_never_panics() {
    let dir = common::root().join("assets/presets");
    let seeds: Vec<String> =
        Preset::builtin_names().map(|name| read(dir.join(format!("{name}.toml")))).collect();
    fuzz("preset", &seeds, 3000, |text| {
        let _ = Preset::parse(text, "fuzz.toml", "fuzz", None);
    });
}

#[test]
fn lut_parser_never_panics_and_bounds_its_values() {
    let mut small =
        String::from("TITLE \"t\"\nLUT_3D_SIZE 3\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1\n");
    for i in 0..27 {
        small.push_str(&format!("{} {} {}\n", i % 3, (i / 3) % 3, i / 9));
    }
    let seeds = vec![small, read(common::root().join("assets/luts/teal-orange.cube"))];
    fuzz("lut", &seeds, 1500, |text| {
        if let Ok(lut) = Lut::parse(text, "fuzz.cube") {
            assert_eq!(lut.table.len(), (lut.size * lut.size * lut.size) as usize);
            assert!(lut.table.iter().flatten().all(|v| v.is_finite()), "non-finite table");
            assert!((0..3).all(|c| lut.domain_max[c] > lut.domain_min[c]), "bad domain");
        }
    });
}

#[test]
fn manifest_parser_never_panics() {
    let seeds = vec![read(common::root().join("models/models.toml"))];
    fuzz("manifest", &seeds, 400, |text| {
        let _ = Manifest::parse(text, "fuzz.toml");
    });
}

#[test]
fn scheduler_config_never_panics_at_parse_or_plan() {
    let seeds = vec![
        read(common::root().join("tests/data/tiny-sd/scheduler/scheduler_config.json")),
        r#"{"_class_name": "LCMScheduler", "num_train_timesteps": 1000, "beta_start": 0.00085,
            "beta_end": 0.012, "beta_schedule": "scaled_linear", "timestep_spacing": "leading",
            "original_inference_steps": 50}"#
            .to_owned(),
    ];
    fuzz("scheduler", &seeds, 3000, |text| {
        let Ok(config) = SchedulerConfig::parse(text) else { return };
        let Ok(scheduler) = Scheduler::new(&config) else { return };
        for (steps, strength) in [(1, 1.0), (2, 0.5), (4, 0.3), (50, 0.99), (0, 0.5), (3, 0.0)] {
            let _ = scheduler.plan(steps, strength);
        }
    });
}

/// Copies the tiny pipeline with one config file replaced.
fn pipeline_with(dir: &Path, relative: &str, text: &str) {
    let source = common::root().join("tests/data/tiny-sd");
    common::copy_tree(&source, dir);
    std::fs::write(dir.join(relative), text).expect("write config");
}

#[test]
fn pipeline_folder_configs_never_panic_at_open() {
    use dreamlens::diffusion::{DiffusionOptions, DiffusionPipeline};
    let source = common::root().join("tests/data/tiny-sd");
    let files = [
        "model_index.json",
        "scheduler/scheduler_config.json",
        "tokenizer/tokenizer_config.json",
        "tokenizer/special_tokens_map.json",
        "tokenizer/vocab.json",
        "vae_decoder/config.json",
    ];
    let work = tempfile::tempdir().expect("temp");
    let mut rng = Rng(7);
    // Opening loads four (tiny) ONNX graphs, so fewer rounds than the pure parsers.
    for round in 0..60 {
        let relative = files[round % files.len()];
        let text = mutate(&read(source.join(relative)), &mut rng);
        let dir = work.path().join(format!("p{round}"));
        pipeline_with(&dir, relative, &text);
        let opened = catch_unwind(AssertUnwindSafe(|| {
            DiffusionPipeline::open(&dir, &DiffusionOptions::default()).map(drop)
        }));
        let Ok(result) = opened else {
            panic!("opening with a mutated {relative} panicked:\n{text:?}");
        };
        if let Err(error) = result {
            let text = error.to_string();
            assert!(!text.is_empty(), "an error says something");
        }
        std::fs::remove_dir_all(&dir).expect("clean");
    }
}
