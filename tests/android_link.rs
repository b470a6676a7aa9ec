//! The phone app's link check (`scripts/android_link.py`, run by `scripts/build-apk.sh`): a
//! library is refused when it calls a platform function newer than the app's minSdk, when it
//! needs a library apps may not use, or when its segments are not aligned for 16 KB pages.
//!
//! Each case links a small library for aarch64-linux-android with Debian's clang and lld against
//! the stub libraries the script makes from the real symbol table (`android/ndk-symbols.tsv`).

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

const FACTS: &str = "android/ndk-symbols.tsv";
const SCRIPT: &str = "scripts/android_link.py";
const MIN_SDK: u32 = 28;

/// `getrandom` came with API 28, `pthread_cond_clockwait` with API 30 (bionic's libc.map.txt).
const CALLS_API_30: &str = "
    #include <stddef.h>
    int getrandom(void*, size_t, unsigned);
    int pthread_cond_clockwait(void*, void*, int, const void*);
    int entry(void) { char b[4]; return getrandom(b, 4, 0) + pthread_cond_clockwait(0, 0, 0, 0); }
";

fn run(command: &mut Command) -> Output {
    command.output().unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Stub libraries for `api` in `dir/stubs-{api}`.
fn stubs(dir: &Path, api: u32) -> PathBuf {
    let out = dir.join(format!("stubs-{api}"));
    let made = run(Command::new("python3").args([SCRIPT, "stubs", "--facts", FACTS]).args([
        "--api".as_ref(),
        api.to_string().as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]));
    assert!(made.status.success(), "stubs: {}", String::from_utf8_lossy(&made.stderr));
    out
}

/// Links `source` as `libcase.so` against `stubs`; returns the library or the linker's error.
fn link(dir: &Path, stubs: &Path, source: &str, page: u32) -> Result<PathBuf, String> {
    let c = dir.join("case.c");
    std::fs::write(&c, source).expect("write the source");
    let library = dir.join("libcase.so");
    let linked = run(Command::new("clang")
        .arg(format!("--target=aarch64-linux-android{MIN_SDK}"))
        .args(["-fuse-ld=lld", "-shared", "-nostdlib", "-ffreestanding", "-Wl,-z,defs"])
        .arg(format!("-Wl,-z,max-page-size={page}"))
        .arg("-L")
        .arg(stubs)
        .arg(&c)
        .args(["-lc", "-o"])
        .arg(&library));
    if linked.status.success() {
        Ok(library)
    } else {
        Err(String::from_utf8_lossy(&linked.stderr).into_owned())
    }
}

/// The check's verdict on `library` at `api`: its exit status and what it printed.
fn check(library: &Path, api: u32) -> (bool, String) {
    let out = run(Command::new("python3")
        .args([SCRIPT, "check", "--facts", FACTS, "--api", &api.to_string()])
        .arg(library));
    let said =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

#[test]
fn the_check_refuses_a_platform_function_newer_than_the_min_sdk() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Linked against API 30's libc, as a build that ignored the minSdk would be.
    let library =
        link(dir.path(), &stubs(dir.path(), 30), CALLS_API_30, 16384).expect("links at 30");
    let (passed, said) = check(&library, MIN_SDK);
    assert!(!passed, "a call to an API 30 function passed the API 28 check: {said}");
    assert!(said.contains("pthread_cond_clockwait (libc.so) exists only from API 30"), "{said}");
    assert!(!said.contains("getrandom"), "getrandom exists at 28: {said}");
    let (passed, said) = check(&library, 30);
    assert!(passed, "the same library at API 30: {said}");
}

#[test]
fn the_link_itself_fails_on_a_function_the_min_sdk_lacks() {
    let dir = tempfile::tempdir().expect("temp dir");
    let error = link(dir.path(), &stubs(dir.path(), MIN_SDK), CALLS_API_30, 16384)
        .expect_err("linked an API 30 call against API 28's stubs");
    assert!(error.contains("undefined symbol: pthread_cond_clockwait"), "{error}");
}

#[test]
fn a_weak_reference_to_a_newer_function_passes() {
    // Code that looks the function up at run time (a weak symbol, null where it is missing).
    let source = "
        int pthread_cond_clockwait(void*, void*, int, const void*) __attribute__((weak));
        int entry(void) { return pthread_cond_clockwait ? pthread_cond_clockwait(0, 0, 0, 0) : 0; }
    ";
    let dir = tempfile::tempdir().expect("temp dir");
    let library = link(dir.path(), &stubs(dir.path(), MIN_SDK), source, 16384).expect("links");
    let (passed, said) = check(&library, MIN_SDK);
    assert!(passed, "{said}");
}

#[test]
fn segments_aligned_for_4_kb_pages_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = "int entry(void) { return 0; }";
    let library = link(dir.path(), &stubs(dir.path(), MIN_SDK), source, 4096).expect("links");
    let (passed, said) = check(&library, MIN_SDK);
    assert!(!passed, "4 KB segments passed: {said}");
    assert!(said.contains("aligned to 4096 bytes"), "{said}");
    let aligned = link(dir.path(), &stubs(dir.path(), MIN_SDK), source, 16384).expect("links");
    assert!(check(&aligned, MIN_SDK).0);
}

#[test]
fn a_library_apps_may_not_use_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let stubs = stubs(dir.path(), MIN_SDK);
    // A private platform library, present on the phone but closed to apps since API 24.
    let private = dir.path().join("libcutils.so");
    let made = run(Command::new("clang")
        .args(["--target=aarch64-linux-android28", "-fuse-ld=lld", "-shared", "-nostdlib"])
        .args(["-Wl,-soname,libcutils.so", "-x", "c", "/dev/null", "-o"])
        .arg(&private));
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    std::fs::copy(&private, stubs.join("libcutils.so")).expect("copy");
    let c = dir.path().join("case.c");
    std::fs::write(&c, "int entry(void) { return 0; }").expect("write");
    let library = dir.path().join("libcase.so");
    let linked = run(Command::new("clang")
        .args(["--target=aarch64-linux-android28", "-fuse-ld=lld", "-shared", "-nostdlib"])
        .args(["-Wl,-z,max-page-size=16384", "-Wl,--no-as-needed", "-L"])
        .arg(&stubs)
        .arg(&c)
        .args(["-lcutils", "-o"])
        .arg(&library));
    assert!(linked.status.success(), "{}", String::from_utf8_lossy(&linked.stderr));
    let (passed, said) = check(&library, MIN_SDK);
    assert!(!passed, "{said}");
    assert!(
        said.contains("needs libcutils.so, which is not a platform library apps may use"),
        "{said}"
    );
}
