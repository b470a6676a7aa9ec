//! The rules ARCHITECTURE.md and CODE_STYLE.md state, checked on the sources so they stay true:
//! each heavy library is named only by the module that owns it, the renderer knows nothing of
//! models, the store or capture, no function is longer than a screen, no two modules use each
//! other in a circle, no error message prints a cause its `source()` returns as well, and no
//! library function returns its error as a `String`. Each rule is shown to catch a planted
//! violation.

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

/// The longest a function may be, from its `fn` line to its closing brace: about a screen, so
/// that each does one job a reader can hold at once.
const MAX_FUNCTION_LINES: usize = 100;

/// Functions of a rustfmt-formatted source longer than `limit` lines: (name, first line,
/// lines). A function ends at the first closing brace at its own indentation.
fn long_functions(source: &str, limit: usize) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut long = Vec::new();
    for (start, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let signature = ["pub ", "pub(crate) ", "pub(super) ", "async ", "const ", "unsafe "]
            .iter()
            .fold(trimmed, |rest, prefix| rest.strip_prefix(prefix).unwrap_or(rest));
        let Some(rest) = signature.strip_prefix("fn ") else { continue };
        let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        // A declaration without a body (in a trait or an extern block) ends with `;`.
        let Some(open) = (start..lines.len()).find(|&i| {
            let l = lines[i].trim_end();
            l.ends_with('{') || l.ends_with(';')
        }) else {
            continue;
        };
        if lines[open].trim_end().ends_with(';') {
            continue;
        }
        let closing = " ".repeat(indent) + "}";
        let end = (open + 1..lines.len())
            .find(|&i| lines[i].starts_with(&closing) && !lines[i][indent..].starts_with("}}"))
            .unwrap_or(lines.len() - 1);
        let length = end - start + 1;
        if length > limit {
            long.push((name, start + 1, length));
        }
    }
    long
}

#[test]
fn no_function_is_longer_than_a_screen() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "web/src", "android/src", "tests"] {
        sources(&root.join(dir), &mut files);
    }
    let mut long = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("source");
        for (name, line, length) in long_functions(&source, MAX_FUNCTION_LINES) {
            let relative = file.strip_prefix(&root).expect("under root").display().to_string();
            long.push(format!("{relative}:{line} `{name}` is {length} lines"));
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FUNCTION_LINES} lines; split them along their jobs:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_length_rule_sees_a_long_function() {
    let body = "    let x = 1;\n".repeat(MAX_FUNCTION_LINES);
    let long = format!(
        "impl A {{\n    pub fn long(&self) {{\n{}    }}\n}}\n",
        body.replace("\n    ", "\n        ")
    );
    let short = "fn short() {\n    if x {\n    }\n}\nfn declared();\n";
    let found = long_functions(&format!("{short}{long}"), MAX_FUNCTION_LINES);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "long");
    assert_eq!(found[0].2, MAX_FUNCTION_LINES + 2);
    assert!(long_functions(short, 4).is_empty(), "the 4-line function is within 4 lines");
    assert_eq!(long_functions(short, 3).len(), 1, "the 4-line function is over 3 lines");
}

/// The module a source file under `src/` defines: `render/carry.rs` is `render::carry`,
/// `render/compositor/mod.rs` is `render::compositor`, `lib.rs` and `main.rs` the root.
fn module_of(relative: &str) -> Vec<String> {
    let mut parts: Vec<String> =
        relative.trim_end_matches(".rs").split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

/// The paths a `use` tree names, braces expanded: `a::{b, c::{d, e}}` gives `a::b`, `a::c::d`
/// and `a::c::e`.
fn expand_use(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap_or(tree).trim().to_owned()];
    };
    let prefix = &tree[..open];
    let close = tree.rfind('}').filter(|&close| close > open).unwrap_or(tree.len());
    let inner = &tree[open + 1..close];
    let (mut depth, mut start, mut parts) = (0, 0, Vec::new());
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| expand_use(p).into_iter().map(move |rest| format!("{prefix}{rest}")))
        .collect()
}

/// The crate paths (`crate::`, `super::`, `self::`) a source names in `use` items and in code,
/// up to its test module.
fn crate_paths(source: &str) -> Vec<String> {
    let code: String = source
        .split("#[cfg(test)]\nmod tests")
        .next()
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    let lines: Vec<&str> = code.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(tree) = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|prefix| trimmed.strip_prefix(prefix))
        else {
            continue;
        };
        // A `use` item runs to its `;`, over several lines when it is long.
        let mut item = tree.to_owned();
        let mut next = i + 1;
        while !item.contains(';') && next < lines.len() {
            item.push_str(lines[next].trim());
            next += 1;
        }
        paths.extend(expand_use(item.split(';').next().unwrap_or("")));
    }
    for (at, _) in code.match_indices("crate::").chain(code.match_indices("super::")) {
        let boundary = code[..at]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
        if boundary {
            let path: String = code[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(path.trim_end_matches(':').to_owned());
        }
    }
    paths.retain(|p| {
        p.starts_with("crate::") || p.starts_with("super::") || p.starts_with("self::")
    });
    paths
}

/// Edges between sibling modules: for each file's reference into another module, the child
/// of their common ancestor on each side (a module using its own parent or child is not an
/// edge). `files` holds (module path, source).
fn sibling_edges(files: &[(Vec<String>, String)]) -> std::collections::BTreeSet<(String, String)> {
    let modules: std::collections::BTreeSet<Vec<String>> =
        files.iter().map(|(m, _)| m.clone()).collect();
    let mut edges = std::collections::BTreeSet::new();
    for (module, source) in files {
        for path in crate_paths(source) {
            let mut segments: Vec<&str> = path.split("::").collect();
            let mut target: Vec<String> = match segments.first() {
                Some(&"crate") => Vec::new(),
                _ => module.clone(),
            };
            if segments.first() == Some(&"crate") {
                segments.remove(0);
            }
            while let Some(&first) = segments.first() {
                match first {
                    "super" => {
                        target.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                segments.remove(0);
            }
            // The longest prefix that is a module is the one named.
            for segment in segments {
                let mut next = target.clone();
                next.push(segment.to_owned());
                if !modules.contains(&next) {
                    break;
                }
                target = next;
            }
            let common = module.iter().zip(&target).take_while(|(a, b)| a == b).count();
            if common < module.len() && common < target.len() {
                let parent = module[..common].join("::");
                let node = |name: &str| {
                    if parent.is_empty() { name.to_owned() } else { format!("{parent}::{name}") }
                };
                edges.insert((node(&module[common]), node(&target[common])));
            }
        }
    }
    edges
}

/// A cycle among the edges, if there is one.
fn find_cycle(edges: &std::collections::BTreeSet<(String, String)>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &std::collections::BTreeSet<(String, String)>,
        path: &mut Vec<String>,
        done: &mut std::collections::BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for (_, to) in edges.iter().filter(|(from, _)| from == node) {
            if let Some(cycle) = visit(to, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = std::collections::BTreeSet::new();
    edges.iter().find_map(|(from, _)| visit(from, edges, &mut Vec::new(), &mut done))
}

#[test]
fn modules_import_one_another_without_circles() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    sources(&root.join("src"), &mut paths);
    let files: Vec<(Vec<String>, String)> = paths
        .iter()
        .map(|path| {
            let relative = path.strip_prefix(root.join("src")).expect("under src");
            let module = module_of(&relative.to_string_lossy().replace('\\', "/"));
            (module, std::fs::read_to_string(path).expect("source"))
        })
        .collect();
    let edges = sibling_edges(&files);
    assert!(edges.len() > 20, "the checker found the modules' imports: {edges:?}");
    if let Some(cycle) = find_cycle(&edges) {
        panic!("modules import one another in a circle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_circle_rule_sees_a_planted_circle() {
    let file = |module: &str, source: &str| {
        (module.split("::").map(str::to_owned).collect::<Vec<_>>(), source.to_owned())
    };
    let mut files = vec![
        file("render", "pub mod a;\npub mod b;\n"),
        file("render::a", "use super::{b::{Thing, other}, context};\n"),
        file("render::b", "fn f() { crate::scene::helper(); }\n"),
        file("render::c", "use crate::scene::Map;\n"),
        file("render::c::inner", "use super::super::b;\nuse super::Parent;\n"),
        file("scene", ""),
    ];
    let edges = sibling_edges(&files);
    assert!(edges.contains(&("render::a".into(), "render::b".into())), "{edges:?}");
    assert!(edges.contains(&("render::c".into(), "render::b".into())), "{edges:?}");
    assert!(
        edges.contains(&("render::b".into(), "scene".into()))
            || edges.contains(&("render".into(), "scene".into())),
        "{edges:?}"
    );
    assert!(edges.contains(&("render".into(), "scene".into())), "{edges:?}");
    assert_eq!(find_cycle(&edges), None, "no circle yet: {edges:?}");
    // b uses c and c uses b: a circle.
    files.push(file("render::b::x", "use crate::render::c::inner;\n"));
    let cycle = find_cycle(&sibling_edges(&files)).expect("a circle");
    assert!(
        cycle.contains(&"render::b".into()) && cycle.contains(&"render::c".into()),
        "{cycle:?}"
    );
}

/// `#[error]` messages that print a cause which `source()` also returns (a field named
/// `source`, or `{0}` of a `#[from]` or `#[source]` field): `{:#}`, which the CLI prints errors
/// with, and every chain walker would show that cause twice. Returns each one's line.
fn causes_printed_twice(source: &str) -> Vec<usize> {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if !line.trim_start().starts_with("#[error(") {
            continue;
        }
        // The attribute may span lines; it ends where its `)]` does.
        let end = (index..lines.len()).find(|&i| lines[i].trim_end().ends_with(")]"));
        let attribute = lines[index..=end.unwrap_or(index)].join(" ");
        let item = lines.get(end.unwrap_or(index) + 1).copied().unwrap_or_default();
        let tuple_source = item.contains("#[from]") || item.contains("#[source]");
        if attribute.contains("{source}") || (attribute.contains("{0}") && tuple_source) {
            found.push(index + 1);
        }
    }
    found
}

#[test]
fn error_messages_carry_their_cause_once() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "web/src", "android/src"] {
        sources(&root.join(dir), &mut files);
    }
    let mut twice = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).expect("source");
        for line in causes_printed_twice(&source) {
            let relative = file.strip_prefix(&root).expect("under root").display().to_string();
            twice.push(format!("{relative}:{line}"));
        }
    }
    assert!(
        twice.is_empty(),
        "these messages print a cause their source() returns too; name the field `cause` (or \
         drop #[from]) so it is printed once:\n{}",
        twice.join("\n")
    );
}

#[test]
fn the_cause_rule_sees_a_cause_printed_twice() {
    let planted = "enum E {\n    #[error(\"cannot read {path}: {source}\")]\n    Read { path: String, source: io::Error },\n    #[error(\"scheduler: {0}\")]\n    Scheduler(#[from] SchedulerError),\n    #[error(\"cannot read {path}: {cause}\")]\n    Fine { path: String, cause: io::Error },\n    #[error(\"thread: {0}\")]\n    Thread(io::Error),\n    #[error(transparent)]\n    Wrapped(#[from] Other),\n}\n";
    assert_eq!(causes_printed_twice(planted), [2, 4]);
}

/// Lines of functions that return `Result<_, String>`: an error flattened to text, its cause's
/// type lost. Read per line: fields that hold such results pass, and so does a signature split
/// over lines, which rustfmt writes only for long ones.
fn text_errors(source: &str) -> Vec<usize> {
    let mut found = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let Some(returned) = line.split_once("-> Result<").map(|(_, rest)| rest) else {
            continue;
        };
        let Some(end) = returned.rfind('>') else { continue };
        let error = returned[..end].rsplit(',').next().unwrap_or("").trim();
        if error == "String" {
            found.push(index + 1);
        }
    }
    found
}

#[test]
fn library_functions_return_typed_errors() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    // The binary's layer reports errors as text, and clap's value parsers take text errors.
    let text_allowed = ["src/main.rs", "src/commands/", "src/cli.rs"];
    let mut flattened = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&root).expect("under root").display().to_string();
        if text_allowed.iter().any(|allowed| relative.starts_with(allowed)) {
            continue;
        }
        let source = std::fs::read_to_string(file).expect("source");
        for line in text_errors(&source) {
            flattened.push(format!("{relative}:{line}"));
        }
    }
    assert!(
        flattened.is_empty(),
        "these library functions return their error as a String; return a thiserror enum that \
         keeps the cause's type:\n{}",
        flattened.join("\n")
    );
}

#[test]
fn the_typed_error_rule_sees_a_string_error() {
    let planted = "fn check(x: u8) -> Result<(), String> {\n}\nfn read() -> Result<Vec<(u8, u8)>, String> {\n}\nfn fine() -> Result<Vec<String>, ReadError> {\n}\nstruct Report {\n    ready: Result<(), String>,\n}\nfn typed() -> Result<u8, StringError> {\n}\n";
    assert_eq!(text_errors(planted), [1, 3]);
}
