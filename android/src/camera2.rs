//! Camera2 through the NDK behind the shared camera seam: cameras listed back-first, a capture
//! session streaming YUV_420_888 into an `AImageReader`, the newest image taken on each read
//! (older ones are dropped by the reader, never queued), turned upright and converted by the
//! shared `Yuv420` code.

use std::{
    ffi::{CStr, CString, c_int, c_void},
    ptr::{self, NonNull},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use dreamlens::capture::{
    Camera, CameraMode, CameraRequest, CameraSummary, Cameras, CaptureError, Frame, FrameSource,
    camera2_modes, choose_mode, upright_quarter_turns,
    yuv420::{Plane, Yuv420},
};
use ndk::{
    media::image_reader::{AcquireResult, Image, ImageFormat, ImageReader},
    native_window::NativeWindow,
};
use ndk_sys as ffi;
use winit::platform::android::activity::AndroidApp;

use crate::display::DisplayRotation;

// ndk-sys declares the camera functions but links only libandroid and libmediandk; they live in
// libcamera2ndk (API 24).
#[link(name = "camera2ndk")]
unsafe extern "C" {}

/// How long a read waits for the camera before calling it lost (the capture thread reopens it).
const FRAME_TIMEOUT: Duration = Duration::from_secs(2);

/// Images the reader holds: one being converted, one arriving, one spare.
const READER_IMAGES: i32 = 3;

fn check(status: ffi::camera_status_t, what: &str) -> Result<(), CaptureError> {
    if status == ffi::camera_status_t::ACAMERA_OK {
        Ok(())
    } else {
        Err(CaptureError::Open {
            input: "camera".into(),
            problem: format!("{what} failed ({})", status.0),
        })
    }
}

/// The NDK camera manager.
struct Manager(NonNull<ffi::ACameraManager>);

// SAFETY: ACameraManager is documented as thread-safe; every call goes through the NDK, which
// serialises access internally.
unsafe impl Send for Manager {}
// SAFETY: as above, shared references only pass the pointer to thread-safe NDK calls.
unsafe impl Sync for Manager {}

impl Drop for Manager {
    fn drop(&mut self) {
        // SAFETY: created by ACameraManager_create and deleted exactly once.
        unsafe { ffi::ACameraManager_delete(self.0.as_ptr()) };
    }
}

/// What the app needs to know about one camera.
struct Characteristics {
    front: bool,
    sensor_degrees: i32,
    modes: Vec<CameraMode>,
}

/// The phone's cameras.
pub struct Camera2Cameras {
    manager: Arc<Manager>,
    /// Read by each stream to turn its frames upright for the way the phone is held.
    app: AndroidApp,
}

impl Camera2Cameras {
    /// Connects to the camera service; `app`'s display rotation turns the frames upright.
    pub fn new(app: AndroidApp) -> anyhow::Result<Self> {
        // SAFETY: no preconditions; a null result is handled.
        let manager = NonNull::new(unsafe { ffi::ACameraManager_create() })
            .ok_or_else(|| anyhow::anyhow!("the camera service is not available"))?;
        Ok(Self { manager: Arc::new(Manager(manager)), app })
    }

    /// Camera ids, back cameras first (index 0 is the main back camera).
    fn ids(&self) -> Result<Vec<(CString, Characteristics)>, CaptureError> {
        let mut list: *mut ffi::ACameraIdList = ptr::null_mut();
        // SAFETY: `list` receives a list freed below.
        let status =
            unsafe { ffi::ACameraManager_getCameraIdList(self.manager.0.as_ptr(), &mut list) };
        check(status, "listing cameras")?;
        let mut cameras = Vec::new();
        // SAFETY: the list holds `numCameras` valid C strings until it is deleted.
        unsafe {
            let ids =
                std::slice::from_raw_parts((*list).cameraIds, (*list).numCameras.max(0) as usize);
            for &id in ids {
                let id = CStr::from_ptr(id).to_owned();
                if let Ok(characteristics) = self.characteristics(&id) {
                    cameras.push((id, characteristics));
                }
            }
            ffi::ACameraManager_deleteCameraIdList(list);
        }
        cameras.sort_by_key(|(_, c)| c.front);
        Ok(cameras)
    }

    fn characteristics(&self, id: &CStr) -> Result<Characteristics, CaptureError> {
        let mut metadata: *mut ffi::ACameraMetadata = ptr::null_mut();
        let manager = self.manager.0.as_ptr();
        // SAFETY: `metadata` receives an object freed below.
        let status = unsafe {
            ffi::ACameraManager_getCameraCharacteristics(manager, id.as_ptr(), &mut metadata)
        };
        check(status, "reading the camera's characteristics")?;
        let entry = |tag: ffi::acamera_metadata_tag| -> Vec<i32> {
            let mut entry = std::mem::MaybeUninit::<ffi::ACameraMetadata_const_entry>::uninit();
            // SAFETY: on success the entry points at `count` values of the tag's type, alive
            // as long as `metadata`; they are copied out before it is freed.
            unsafe {
                if ffi::ACameraMetadata_getConstEntry(metadata, tag.0, entry.as_mut_ptr())
                    != ffi::camera_status_t::ACAMERA_OK
                {
                    return Vec::new();
                }
                let entry = entry.assume_init();
                match u32::from(entry.type_) {
                    t if t == ffi::ACAMERA_TYPE_BYTE => {
                        std::slice::from_raw_parts(entry.data.u8_, entry.count as usize)
                            .iter()
                            .map(|&b| i32::from(b))
                            .collect()
                    }
                    t if t == ffi::ACAMERA_TYPE_INT32 => {
                        std::slice::from_raw_parts(entry.data.i32_, entry.count as usize).to_vec()
                    }
                    _ => Vec::new(),
                }
            }
        };
        let facing = entry(ffi::acamera_metadata_tag::ACAMERA_LENS_FACING);
        let orientation = entry(ffi::acamera_metadata_tag::ACAMERA_SENSOR_ORIENTATION);
        let configurations =
            entry(ffi::acamera_metadata_tag::ACAMERA_SCALER_AVAILABLE_STREAM_CONFIGURATIONS);
        let fps_ranges =
            entry(ffi::acamera_metadata_tag::ACAMERA_CONTROL_AE_AVAILABLE_TARGET_FPS_RANGES);
        // SAFETY: freed once, after the last read.
        unsafe { ffi::ACameraMetadata_free(metadata) };
        let front = facing.first().copied()
            == Some(
                ffi::acamera_metadata_enum_acamera_lens_facing::ACAMERA_LENS_FACING_FRONT.0 as i32,
            );
        Ok(Characteristics {
            front,
            sensor_degrees: orientation.first().copied().unwrap_or(90),
            modes: camera2_modes(&configurations, &fps_ranges, ImageFormat::YUV_420_888.into()),
        })
    }
}

impl Cameras for Camera2Cameras {
    fn list(&self) -> Vec<CameraSummary> {
        self.ids()
            .unwrap_or_default()
            .into_iter()
            .map(|(id, c)| CameraSummary {
                device: id.to_string_lossy().into_owned(),
                name: format!(
                    "{} camera {}",
                    if c.front { "front" } else { "back" },
                    id.to_string_lossy()
                ),
            })
            .collect()
    }

    fn open(&self, request: &CameraRequest) -> Result<Box<dyn Camera>, CaptureError> {
        let cameras = self.ids()?;
        let (id, characteristics) =
            cameras.into_iter().nth(request.index as usize).ok_or_else(|| CaptureError::Open {
                input: format!("camera {}", request.index),
                problem: "the phone has no such camera".into(),
            })?;
        let mode = choose_mode(&characteristics.modes, request)
            .or_else(|| characteristics.modes.first().copied())
            .ok_or_else(|| CaptureError::Open {
                input: format!("camera {}", id.to_string_lossy()),
                problem: "it offers no YUV_420_888 output".into(),
            })?;
        let display = DisplayRotation::new(self.app.clone());
        Ok(Box::new(Camera2Stream::start(&self.manager, &id, mode, characteristics, display)?))
    }
}

/// Set by the reader's listener when an image arrives; the reading thread waits on it.
#[derive(Default)]
struct Arrivals {
    pending: Mutex<bool>,
    signal: Condvar,
}

/// The NDK objects of one running capture session, released in reverse order.
struct Session {
    device: *mut ffi::ACameraDevice,
    outputs: *mut ffi::ACaptureSessionOutputContainer,
    output: *mut ffi::ACaptureSessionOutput,
    target: *mut ffi::ACameraOutputTarget,
    request: *mut ffi::ACaptureRequest,
    session: *mut ffi::ACameraCaptureSession,
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or owned by this session and released once, the
        // repeating request stopped before the session closes and the device after it.
        unsafe {
            if !self.session.is_null() {
                ffi::ACameraCaptureSession_stopRepeating(self.session);
                ffi::ACameraCaptureSession_close(self.session);
            }
            if !self.request.is_null() {
                ffi::ACaptureRequest_free(self.request);
            }
            if !self.target.is_null() {
                ffi::ACameraOutputTarget_free(self.target);
            }
            if !self.outputs.is_null() {
                ffi::ACaptureSessionOutputContainer_free(self.outputs);
            }
            if !self.output.is_null() {
                ffi::ACaptureSessionOutput_free(self.output);
            }
            if !self.device.is_null() {
                ffi::ACameraDevice_close(self.device);
            }
        }
    }
}

impl Session {
    /// Opens camera `id` and starts a repeating capture request at `fps` into `window`;
    /// whatever was created is released if a step fails.
    fn open(
        manager: &Manager,
        id: &CStr,
        callbacks: &mut ffi::ACameraDevice_StateCallbacks,
        window: &NativeWindow,
        fps: u32,
    ) -> Result<Self, CaptureError> {
        let mut session = Session {
            device: ptr::null_mut(),
            outputs: ptr::null_mut(),
            output: ptr::null_mut(),
            target: ptr::null_mut(),
            request: ptr::null_mut(),
            session: ptr::null_mut(),
        };
        let fps_range = [fps as i32, fps as i32];
        let window = window.ptr().as_ptr();
        // SAFETY: every out-pointer is a field of `session`, which releases what was created
        // if a later step fails; the window and the callbacks are owned by the stream, which
        // keeps them alive as long as the session.
        unsafe {
            check(
                ffi::ACameraManager_openCamera(
                    manager.0.as_ptr(),
                    id.as_ptr(),
                    &mut *callbacks,
                    &mut session.device,
                ),
                "opening the camera",
            )?;
            check(
                ffi::ACaptureSessionOutputContainer_create(&mut session.outputs),
                "creating the session outputs",
            )?;
            check(
                ffi::ACaptureSessionOutput_create(window, &mut session.output),
                "creating the session output",
            )?;
            check(
                ffi::ACaptureSessionOutputContainer_add(session.outputs, session.output),
                "adding the output",
            )?;
            check(
                ffi::ACameraOutputTarget_create(window, &mut session.target),
                "creating the output target",
            )?;
            check(
                ffi::ACameraDevice_createCaptureRequest(
                    session.device,
                    ffi::ACameraDevice_request_template::TEMPLATE_RECORD,
                    &mut session.request,
                ),
                "creating the capture request",
            )?;
            check(
                ffi::ACaptureRequest_addTarget(session.request, session.target),
                "targeting the reader",
            )?;
            check(
                ffi::ACaptureRequest_setEntry_i32(
                    session.request,
                    ffi::acamera_metadata_tag::ACAMERA_CONTROL_AE_TARGET_FPS_RANGE.0,
                    2,
                    fps_range.as_ptr(),
                ),
                "setting the frame rate",
            )?;
            let state = ffi::ACameraCaptureSession_stateCallbacks {
                context: ptr::null_mut(),
                onClosed: None,
                onReady: None,
                onActive: None,
            };
            check(
                ffi::ACameraDevice_createCaptureSession(
                    session.device,
                    session.outputs,
                    &state,
                    &mut session.session,
                ),
                "starting the capture session",
            )?;
            check(
                ffi::ACameraCaptureSession_setRepeatingRequest(
                    session.session,
                    ptr::null_mut(),
                    1,
                    &mut session.request,
                    ptr::null_mut(),
                ),
                "starting the stream",
            )?;
        }
        Ok(session)
    }
}

unsafe extern "C" fn on_disconnected(context: *mut c_void, _device: *mut ffi::ACameraDevice) {
    // SAFETY: `context` is the `lost` flag the stream keeps alive while the device is open.
    unsafe { (*context.cast::<AtomicBool>()).store(true, Ordering::Relaxed) };
}

unsafe extern "C" fn on_error(
    context: *mut c_void,
    device: *mut ffi::ACameraDevice,
    _error: c_int,
) {
    // SAFETY: as for `on_disconnected`.
    unsafe { on_disconnected(context, device) };
}

/// One streaming camera.
struct Camera2Stream {
    name: String,
    /// The sensor's picture size, before turning.
    sensor_size: (u32, u32),
    /// Quarter turns that make the frames upright for the display's rotation now.
    turns: u8,
    sensor_degrees: i32,
    front: bool,
    display: DisplayRotation,
    /// Declared before the reader: the session stops writing into the reader's window first.
    _session: Session,
    reader: ImageReader,
    arrivals: Arc<Arrivals>,
    /// Set by the device callbacks when the camera is taken away or fails.
    lost: Arc<AtomicBool>,
    /// The callbacks' table; the device keeps a pointer to it while open.
    _callbacks: Box<ffi::ACameraDevice_StateCallbacks>,
    first_timestamp: Option<i64>,
    next_index: u64,
    _manager: Arc<Manager>,
}

// SAFETY: the NDK camera and image-reader objects may be used from any thread; the stream is
// moved to the capture thread once and used only there.
unsafe impl Send for Camera2Stream {}

impl Camera2Stream {
    fn start(
        manager: &Arc<Manager>,
        id: &CStr,
        mode: CameraMode,
        characteristics: Characteristics,
        mut display: DisplayRotation,
    ) -> Result<Self, CaptureError> {
        let Characteristics { front, sensor_degrees, .. } = characteristics;
        let name =
            format!("{} camera {}", if front { "front" } else { "back" }, id.to_string_lossy());
        let error = |problem: String| CaptureError::Open { input: name.clone(), problem };
        let mut reader = ImageReader::new(
            mode.width as i32,
            mode.height as i32,
            ImageFormat::YUV_420_888,
            READER_IMAGES,
        )
        .map_err(|e| error(format!("cannot create the image reader: {e}")))?;
        let arrivals = Arc::new(Arrivals::default());
        let notify = Arc::clone(&arrivals);
        reader
            .set_image_listener(Box::new(move |_| {
                if let Ok(mut pending) = notify.pending.lock() {
                    *pending = true;
                    notify.signal.notify_one();
                }
            }))
            .map_err(|e| error(format!("cannot listen to the image reader: {e}")))?;
        let window =
            reader.window().map_err(|e| error(format!("the image reader has no window: {e}")))?;
        let lost = Arc::new(AtomicBool::new(false));
        let mut callbacks = Box::new(ffi::ACameraDevice_StateCallbacks {
            context: Arc::as_ptr(&lost).cast_mut().cast(),
            onDisconnected: Some(on_disconnected),
            onError: Some(on_error),
        });
        let session = Session::open(manager, id, &mut callbacks, &window, mode.fps)?;
        let turns = upright_quarter_turns(sensor_degrees, display.degrees(), front);
        Ok(Self {
            name,
            sensor_size: (mode.width, mode.height),
            turns,
            sensor_degrees,
            front,
            display,
            _session: session,
            reader,
            arrivals,
            lost,
            _callbacks: callbacks,
            first_timestamp: None,
            next_index: 0,
            _manager: Arc::clone(manager),
        })
    }

    fn read_error(&self, problem: String) -> CaptureError {
        CaptureError::Read { input: self.name.clone(), problem }
    }

    /// Waits until the listener saw a new image (or the timeout passed).
    fn wait_for_image(&self) -> Result<(), CaptureError> {
        let pending = self
            .arrivals
            .pending
            .lock()
            .map_err(|_| self.read_error("the image listener failed".into()))?;
        let (mut pending, timeout) = self
            .arrivals
            .signal
            .wait_timeout_while(pending, FRAME_TIMEOUT, |pending| !*pending)
            .map_err(|_| self.read_error("the image listener failed".into()))?;
        if timeout.timed_out() {
            return Err(self.read_error(format!("no picture for {} s", FRAME_TIMEOUT.as_secs())));
        }
        *pending = false;
        Ok(())
    }

    fn convert(&self, image: &Image) -> Result<image::RgbImage, CaptureError> {
        let failed = |e: ndk::media_error::MediaError| {
            self.read_error(format!("cannot read the picture: {e}"))
        };
        let plane = |index: i32| -> Result<Plane<'_>, CaptureError> {
            Ok(Plane {
                data: image.plane_data(index).map_err(failed)?,
                row_stride: image.plane_row_stride(index).map_err(failed)? as usize,
                pixel_stride: image.plane_pixel_stride(index).map_err(failed)? as usize,
            })
        };
        let picture = Yuv420 {
            width: image.width().map_err(failed)? as u32,
            height: image.height().map_err(failed)? as u32,
            y: plane(0)?,
            u: plane(1)?,
            v: plane(2)?,
        };
        picture.to_rgb(self.turns)
    }
}

impl FrameSource for Camera2Stream {
    fn next_frame(&mut self) -> Result<Option<Frame>, CaptureError> {
        loop {
            if self.lost.load(Ordering::Relaxed) {
                return Err(self.read_error("the camera was disconnected or failed".into()));
            }
            self.wait_for_image()?;
            // The newest image; the reader drops the older ones, so a slow reader skips frames
            // instead of falling behind.
            let image = match self.reader.acquire_latest_image() {
                Ok(AcquireResult::Image(image)) => image,
                Ok(AcquireResult::NoBufferAvailable | AcquireResult::MaxImagesAcquired) => continue,
                Err(e) => return Err(self.read_error(format!("cannot take the picture: {e}"))),
            };
            // The phone may have turned since the last frame: the picture turns with it (and
            // changes shape between portrait and landscape).
            self.turns =
                upright_quarter_turns(self.sensor_degrees, self.display.degrees(), self.front);
            let rgb = self.convert(&image)?;
            let timestamp = image.timestamp().unwrap_or_default();
            let first = *self.first_timestamp.get_or_insert(timestamp);
            let frame = Frame {
                image: rgb,
                index: self.next_index,
                time_s: (timestamp - first) as f64 * 1e-9,
            };
            self.next_index += 1;
            return Ok(Some(frame));
        }
    }

    fn size(&self) -> (u32, u32) {
        let (width, height) = self.sensor_size;
        if self.turns % 2 == 1 { (height, width) } else { (width, height) }
    }

    fn frame_count(&self) -> Option<u64> {
        None
    }

    fn is_sequence(&self) -> bool {
        true
    }
}

impl Camera for Camera2Stream {
    fn name(&self) -> &str {
        &self.name
    }
}
