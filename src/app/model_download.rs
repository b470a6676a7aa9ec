//! A large model downloaded only on the user's request, from the panel: first its size is asked
//! of its server and shown, then the download runs on a thread of its own with a progress bar,
//! and can be paused; a later start resumes where it stopped (the store keeps the part).

use std::{
    sync::{Arc, mpsc},
    thread,
};

use crate::{
    controls::panel::{DownloadAsk, ModelOffer, OfferState},
    store::{DownloadOptions, DownloadProgress, DownloadSize, ModelStore, StoreError},
};

/// One model offered for download, and how far its download has come.
pub(super) struct ModelDownload {
    id: String,
    state: State,
}

enum State {
    NotAsked,
    Sizing(mpsc::Receiver<Result<DownloadSize, StoreError>>),
    Sized(DownloadSize),
    Running {
        progress: Arc<DownloadProgress>,
        total: u64,
        done: mpsc::Receiver<Result<(), StoreError>>,
    },
    Stopped(String),
}

impl ModelDownload {
    /// Offers `id`; nothing goes over the network until the user asks.
    pub(super) fn new(id: &str) -> Self {
        Self { id: id.to_owned(), state: State::NotAsked }
    }

    /// The model offered.
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    /// Acts on what the user pressed on the panel.
    pub(super) fn ask(&mut self, ask: DownloadAsk, store: &ModelStore) {
        self.state = match (ask, std::mem::replace(&mut self.state, State::NotAsked)) {
            (DownloadAsk::Size, _) => {
                match self.spawn(store, |store, id| store.download_size(id)) {
                    Ok(result) => State::Sizing(result),
                    Err(error) => State::Stopped(not_started(&error)),
                }
            }
            (DownloadAsk::Start, State::Sized(size)) => self.start(store, size.bytes),
            (DownloadAsk::Start, _) => self.start(store, 0),
            (DownloadAsk::Pause, State::Running { progress, total, done }) => {
                progress.pause();
                State::Running { progress, total, done }
            }
            (DownloadAsk::Dismiss, _) => State::NotAsked,
            (_, state) => state,
        };
    }

    /// Follows the worker threads; true once, when the model has arrived.
    pub(super) fn poll(&mut self) -> bool {
        let next = match &self.state {
            State::Sizing(result) => match result.try_recv() {
                Ok(Ok(size)) if size.files == 0 => return self.arrived(),
                Ok(Ok(size)) => State::Sized(size),
                Ok(Err(error)) => State::Stopped(error.to_string()),
                Err(mpsc::TryRecvError::Empty) => return false,
                Err(mpsc::TryRecvError::Disconnected) => State::Stopped(stopped()),
            },
            State::Running { done, .. } => match done.try_recv() {
                Ok(Ok(())) => return self.arrived(),
                Ok(Err(error)) => State::Stopped(error.to_string()),
                Err(mpsc::TryRecvError::Empty) => return false,
                Err(mpsc::TryRecvError::Disconnected) => State::Stopped(stopped()),
            },
            _ => return false,
        };
        self.state = next;
        false
    }

    /// What the panel shows of it.
    pub(super) fn offer(&self) -> ModelOffer {
        let state = match &self.state {
            State::NotAsked => OfferState::NotAsked,
            State::Sizing(_) => OfferState::Sizing,
            State::Sized(size) => OfferState::Sized {
                bytes: size.bytes,
                known: !size.unknown,
                resumable: size.resumable,
                unverified: size.unverified,
            },
            State::Running { progress, total, .. } => {
                OfferState::Running { received: progress.received(), total: *total }
            }
            State::Stopped(reason) => OfferState::Stopped(reason.clone()),
        };
        ModelOffer { name: self.id.clone(), state }
    }

    fn arrived(&mut self) -> bool {
        self.state = State::NotAsked;
        true
    }

    fn start(&self, store: &ModelStore, total: u64) -> State {
        let progress = Arc::new(DownloadProgress::default());
        let watched = store.clone().with_download_options(DownloadOptions {
            progress: false,
            watch: Some(Arc::clone(&progress)),
            ..DownloadOptions::default()
        });
        // The user asked for this model in the panel, which showed that its hash is not pinned
        // by the manifest: that is the consent `models fetch --allow-unverified` asks for.
        match self.spawn(&watched, |store, id| store.fetch(id, true).map(drop)) {
            Ok(done) => State::Running { progress, total, done },
            Err(error) => State::Stopped(not_started(&error)),
        }
    }

    /// Runs `work` on a thread of its own; its answer comes through the receiver.
    fn spawn<T: Send + 'static>(
        &self,
        store: &ModelStore,
        work: impl FnOnce(&ModelStore, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> std::io::Result<mpsc::Receiver<Result<T, StoreError>>> {
        let (sender, receiver) = mpsc::channel();
        let (store, id) = (store.clone(), self.id.clone());
        thread::Builder::new().name("model-download".into()).spawn(move || {
            let _ = sender.send(work(&store, &id));
        })?;
        Ok(receiver)
    }
}

fn not_started(error: &std::io::Error) -> String {
    format!("cannot start the download: {error}")
}

fn stopped() -> String {
    "the download stopped unexpectedly; start it again to resume".into()
}

#[cfg(test)]
mod tests {
    use std::{
        io::{Read, Write},
        net::TcpListener,
        sync::atomic::{AtomicUsize, Ordering},
        time::{Duration, Instant},
    };

    use super::*;
    use crate::store::Manifest;

    /// Serves `body` to GET and its length to HEAD at any path, counting requests.
    fn serve(body: Vec<u8>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/model.onnx", listener.local_addr().expect("address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&requests);
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let mut request = [0u8; 2048];
                let read = stream.read(&mut request).unwrap_or(0);
                let head = request[..read].starts_with(b"HEAD ");
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(header.as_bytes());
                if !head {
                    let _ = stream.write_all(&body);
                }
            }
        });
        (url, requests)
    }

    fn poll_until(download: &mut ModelDownload, done: impl Fn(&OfferState) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if download.poll() {
                return true;
            }
            if done(&download.offer().state) {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("the download is stuck at {:?}", download.offer().state);
    }

    #[test]
    fn a_model_is_sized_then_downloaded_only_when_the_user_asks() {
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let (url, requests) = serve(body.clone());
        let cache = tempfile::tempdir().expect("temp");
        let text = format!(
            "[[model]]\nid = \"big\"\ntask = \"diffusion\"\nname = \"Big\"\nlicense = \"MIT\"\n\
             source = \"test\"\n[[model.files]]\npath = \"big/unet/model.onnx\"\nurls = [\"{url}\"]\n"
        );
        let manifest = Manifest::parse(&text, "test").expect("valid");
        let store = ModelStore::new(manifest, cache.path().to_owned(), Vec::new());

        let mut download = ModelDownload::new("big");
        assert!(!download.poll());
        assert_eq!(download.offer().state, OfferState::NotAsked);
        assert_eq!(requests.load(Ordering::SeqCst), 0, "offering it went over the network");

        download.ask(DownloadAsk::Size, &store);
        assert!(!poll_until(&mut download, |s| matches!(s, OfferState::Sized { .. })));
        let sized = OfferState::Sized {
            bytes: body.len() as u64,
            known: true,
            resumable: 0,
            unverified: true,
        };
        assert_eq!(download.offer().state, sized);
        assert_eq!(requests.load(Ordering::SeqCst), 1, "one HEAD request");
        assert!(!cache.path().join("big/unet/model.onnx").exists(), "sizing downloaded it");

        download.ask(DownloadAsk::Start, &store);
        assert!(matches!(download.offer().state, OfferState::Running { total: 300_000, .. }));
        assert!(poll_until(&mut download, |_| false), "the download arrives");
        let path = cache.path().join("big/unet/model.onnx");
        assert_eq!(std::fs::read(&path).expect("downloaded"), body);
        assert!(store.locate("big").is_ok(), "pinned on the device, so the store finds it");
    }

    #[test]
    fn a_failed_download_says_why_and_can_be_started_again() {
        let cache = tempfile::tempdir().expect("temp");
        // Nothing listens on this port once the listener is dropped.
        let url = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("http://{}/model.onnx", listener.local_addr().expect("address"))
        };
        let text = format!(
            "[[model]]\nid = \"big\"\ntask = \"diffusion\"\nname = \"Big\"\nlicense = \"MIT\"\n\
             source = \"test\"\n[[model.files]]\npath = \"big/unet/model.onnx\"\nurls = [\"{url}\"]\n"
        );
        let store = ModelStore::new(
            Manifest::parse(&text, "test").expect("valid"),
            cache.path().to_owned(),
            Vec::new(),
        );
        let mut download = ModelDownload::new("big");
        download.ask(DownloadAsk::Start, &store);
        assert!(!poll_until(&mut download, |s| matches!(s, OfferState::Stopped(_))));
        let OfferState::Stopped(reason) = download.offer().state else { unreachable!() };
        assert!(reason.contains("big") && reason.contains("network"), "{reason}");
        download.ask(DownloadAsk::Dismiss, &store);
        assert_eq!(download.offer().state, OfferState::NotAsked);
    }
}
