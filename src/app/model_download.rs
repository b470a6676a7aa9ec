//! A large model downloaded only on the user's request, from the panel: first its size is asked
//! of its server and shown, then the download runs on a thread of its own with a progress bar,
//! and can be paused; a later start resumes where it stopped (the store keeps the part).

use std::{
    sync::{Arc, mpsc},
    thread,
};

use crate::{
    controls::panel::{DownloadAsk, ModelOffer, OfferState},
    inference::SessionOptions,
    restyle::served_remotely,
    store::{DownloadOptions, DownloadProgress, DownloadSize, ModelStore, StoreError},
};

/// One model offered for download, and how far its download has come.
pub(super) struct ModelDownload {
    id: String,
    /// Its graphs that an inference server runs are not downloaded (hybrid mode).
    options: SessionOptions,
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
    /// Offers `id`, as the models run with `options`; nothing goes over the network until the
    /// user asks.
    pub(super) fn new(id: &str, options: &SessionOptions) -> Self {
        Self { id: id.to_owned(), options: options.clone(), state: State::NotAsked }
    }

    /// True while bytes are coming in (or its size is being asked).
    pub(super) fn is_busy(&self) -> bool {
        matches!(self.state, State::Sizing(_) | State::Running { .. })
    }

    /// The model offered.
    pub(super) fn id(&self) -> &str {
        &self.id
    }

    /// Acts on what the user pressed on the panel. A download under way only takes Pause (a
    /// second writer on its part file would spoil it); it starts only once its size was shown.
    pub(super) fn ask(&mut self, ask: DownloadAsk, store: &ModelStore) {
        self.state = match (ask, std::mem::replace(&mut self.state, State::NotAsked)) {
            (DownloadAsk::Pause, State::Running { progress, total, done }) => {
                progress.pause();
                State::Running { progress, total, done }
            }
            (_, busy @ (State::Sizing(_) | State::Running { .. })) => busy,
            (DownloadAsk::Size, _) => {
                let options = self.options.clone();
                let size = move |store: &ModelStore, id: &str| {
                    store.download_size_except(id, &|file| served_remotely(file, &options))
                };
                match self.spawn(store, size) {
                    Ok(result) => State::Sizing(result),
                    Err(error) => State::Stopped(not_started(&error)),
                }
            }
            (DownloadAsk::Start, State::Sized(size)) => self.start(store, size.bytes),
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
        let options = self.options.clone();
        let fetch = move |store: &ModelStore, id: &str| {
            store.fetch_except(id, true, &|file| served_remotely(file, &options)).map(drop)
        };
        match self.spawn(&watched, fetch) {
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

    /// Waits for the worker's answer without a clock (it is put back for `poll`), then polls:
    /// true when the model has arrived.
    fn settle(download: &mut ModelDownload) -> bool {
        fn requeue<T>(answer: T) -> mpsc::Receiver<T> {
            let (sender, receiver) = mpsc::channel();
            sender.send(answer).expect("the receiver is here");
            receiver
        }
        download.state = match std::mem::replace(&mut download.state, State::NotAsked) {
            State::Sizing(result) => State::Sizing(requeue(result.recv().expect("an answer"))),
            State::Running { progress, total, done } => {
                State::Running { progress, total, done: requeue(done.recv().expect("an answer")) }
            }
            other => other,
        };
        download.poll()
    }

    fn manifest(files: &[(&str, &str)]) -> Manifest {
        let mut text = "[[model]]\nid = \"big\"\ntask = \"diffusion\"\nname = \"Big\"\n\
                        license = \"MIT\"\nsource = \"test\"\n"
            .to_owned();
        for (path, url) in files {
            text += &format!("[[model.files]]\npath = \"{path}\"\nurls = [\"{url}\"]\n");
        }
        Manifest::parse(&text, "test").expect("valid")
    }

    #[test]
    fn a_model_is_sized_then_downloaded_only_when_the_user_asks() {
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let (url, requests) = serve(body.clone());
        let cache = tempfile::tempdir().expect("temp");
        let manifest = manifest(&[("big/unet/model.onnx", &url)]);
        let store = ModelStore::new(manifest, cache.path().to_owned(), Vec::new());

        let mut download = ModelDownload::new("big", &SessionOptions::default());
        assert!(!download.poll());
        assert_eq!(download.offer().state, OfferState::NotAsked);
        download.ask(DownloadAsk::Start, &store);
        assert_eq!(
            download.offer().state,
            OfferState::NotAsked,
            "started before its size was shown"
        );
        assert_eq!(requests.load(Ordering::SeqCst), 0, "offering it went over the network");

        download.ask(DownloadAsk::Size, &store);
        assert!(!settle(&mut download));
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
        download.ask(DownloadAsk::Size, &store);
        assert!(download.is_busy(), "a running download took another order than Pause");
        assert!(settle(&mut download), "the download arrives");
        let path = cache.path().join("big/unet/model.onnx");
        assert_eq!(std::fs::read(&path).expect("downloaded"), body);
        assert!(store.locate("big").is_ok(), "pinned on the device, so the store finds it");
    }

    #[test]
    fn in_hybrid_mode_the_graphs_the_server_runs_are_not_downloaded() {
        let small = b"{\"_class_name\": \"StableDiffusionPipeline\"}".to_vec();
        let (url, _) = serve(small.clone());
        let cache = tempfile::tempdir().expect("temp");
        let unet = url.replace("model.onnx", "unet.onnx");
        let manifest = manifest(&[("big/unet/model.onnx", &unet), ("big/model_index.json", &url)]);
        let store = ModelStore::new(manifest, cache.path().to_owned(), Vec::new());
        let remote =
            crate::inference::remote::RemoteConfig::new("http://gpu-box:8000").expect("url");
        let options =
            SessionOptions { remote: Some(Arc::new(remote)), ..SessionOptions::default() };

        let mut download = ModelDownload::new("big", &options);
        download.ask(DownloadAsk::Size, &store);
        assert!(!settle(&mut download));
        let OfferState::Sized { bytes, .. } = download.offer().state else { panic!("not sized") };
        assert_eq!(bytes, small.len() as u64, "only the pipeline's small file is counted");
        download.ask(DownloadAsk::Start, &store);
        assert!(settle(&mut download), "the download arrives");
        assert!(cache.path().join("big/model_index.json").is_file());
        assert!(!cache.path().join("big/unet/model.onnx").exists(), "the server's graph came too");
    }

    #[test]
    fn a_failed_sizing_says_why_and_the_offer_can_be_set_aside() {
        let cache = tempfile::tempdir().expect("temp");
        // Nothing listens on this port once the listener is dropped.
        let url = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            format!("http://{}/model.onnx", listener.local_addr().expect("address"))
        };
        let manifest = manifest(&[("big/unet/model.onnx", &url)]);
        let store = ModelStore::new(manifest, cache.path().to_owned(), Vec::new());
        let mut download = ModelDownload::new("big", &SessionOptions::default());
        download.ask(DownloadAsk::Size, &store);
        assert!(!settle(&mut download));
        let OfferState::Stopped(reason) = download.offer().state else { panic!("not stopped") };
        assert!(reason.contains("big") && reason.contains("network"), "{reason}");
        download.ask(DownloadAsk::Start, &store);
        assert!(matches!(download.offer().state, OfferState::Stopped(_)), "started unsized");
        download.ask(DownloadAsk::Dismiss, &store);
        assert_eq!(download.offer().state, OfferState::NotAsked);
    }
}
