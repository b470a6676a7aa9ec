//! Every WGSL shader parses and validates with naga, without a GPU.

use dreamlens::render::shaders;

#[test]
fn every_shader_parses_and_validates() {
    let sources = shaders::all_sources();
    assert!(sources.len() >= 13, "all shaders are listed");
    let mut failures = Vec::new();
    for (name, source) in sources {
        let module = match naga::front::wgsl::parse_str(&source) {
            Ok(module) => module,
            Err(error) => {
                failures.push(format!("{name}: {}", error.emit_to_string(&source)));
                continue;
            }
        };
        let mut validator = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        );
        if let Err(error) = validator.validate(&module) {
            failures.push(format!("{name}: {}", error.emit_to_string(&source)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_shader_file_is_listed() {
    let listed: Vec<&str> = shaders::STANDALONE
        .iter()
        .chain(shaders::EFFECTS.iter())
        .map(|(n, _)| *n)
        .chain(["common", "fullscreen", "motion_field"])
        .collect();
    for entry in
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders")).expect("shaders folder")
    {
        let path = entry.expect("entry").path();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_owned();
        assert!(
            listed.contains(&stem.as_str()),
            "{} is not embedded in render::shaders",
            path.display()
        );
    }
}
