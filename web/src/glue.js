// The browser's devices and storage for the dreamlens page: the camera and the microphone
// (getUserMedia), model bytes (same-origin fetch, SubtleCrypto, the Cache API), the H.264 and
// sound encoders (WebCodecs) and the page's own elements. The app itself (presets, models, compositing, the MP4 writer) is Rust.

const MODEL_CACHE = 'dreamlens-models-v1';

function element(id) {
  return document.getElementById(id);
}

/** Shows `text` in the status line (`kind`: info, error); a tap on it hides it. */
export function setStatus(text, kind) {
  const status = element('status');
  if (!status) return;
  status.textContent = text;
  status.dataset.kind = kind;
  status.hidden = text.length === 0;
  status.onclick = () => { status.hidden = true; };
}

/** The first-load progress bar: `fraction` in 0..1, or a negative value to hide it. */
export function setProgress(label, fraction) {
  const box = element('progress');
  if (!box) return;
  box.hidden = fraction < 0;
  box.querySelector('span').textContent = label;
  box.querySelector('progress').value = Math.max(0, fraction);
}

/** Moves onnxruntime-web's wasm kernels into its own worker (`env.wasm.proxy`), so that a model
 *  run never holds the page's thread. Call after its script loaded and before the first session.
 *  The worker takes a model and each input by transferring their buffers, and ort-web hands over
 *  views of this module's memory, which cannot be transferred: each goes over as a copy of its
 *  own (an input is a few MB, copied in well under a millisecond). */
export function runWasmModelsInWorker() {
  const ort = globalThis.ort;
  ort.env.wasm.proxy = true;
  const create = ort.InferenceSession.create;
  ort.InferenceSession.create = (model, ...rest) =>
    create.call(ort.InferenceSession, model instanceof Uint8Array ? model.slice() : model, ...rest);
  const run = ort.InferenceSession.prototype.run;
  ort.InferenceSession.prototype.run = function (feeds, ...rest) {
    const owned = {};
    for (const [name, tensor] of Object.entries(feeds)) {
      owned[name] = new ort.Tensor(tensor.type, tensor.data.slice(), tensor.dims);
    }
    return run.call(this, owned, ...rest);
  };
}

/** The camera: a playing video element fed by getUserMedia. Rejects with a message that says
 *  what to do when permission is denied or there is no camera. */
export async function openCamera(width, height, facingMode) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new Error('this browser gives pages no camera (getUserMedia is missing); open the page over https or on localhost');
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: facingMode }, width: { ideal: width }, height: { ideal: height } },
    });
  } catch (error) {
    if (error.name === 'NotAllowedError') {
      throw new Error('the camera was not allowed: allow it in the address bar, then reload the page');
    }
    if (error.name === 'NotFoundError' || error.name === 'OverconstrainedError') {
      throw new Error('no camera found: connect one, then reload the page');
    }
    throw new Error(`the camera cannot be opened: ${error.message}`);
  }
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  await video.play();
  const camera = { video, stream, frames: 0, ended: false, contexts: new Map() };
  for (const track of stream.getVideoTracks()) {
    track.addEventListener('ended', () => { camera.ended = true; });
  }
  const count = () => {
    camera.frames += 1;
    video.requestVideoFrameCallback(count);
  };
  video.requestVideoFrameCallback(count);
  return camera;
}

/** The camera's frame size: [width, height]. */
export function cameraSize(camera) {
  return [camera.video.videoWidth, camera.video.videoHeight];
}

/** The camera's name (its track label). */
export function cameraLabel(camera) {
  const track = camera.stream.getVideoTracks()[0];
  return track ? track.label : 'camera';
}

/** True once the camera went away (unplugged, or taken by the system). */
export function cameraEnded(camera) {
  return camera.ended || camera.stream.getVideoTracks().every((t) => t.readyState === 'ended');
}

/** How many frames the camera has delivered so far. */
export function cameraFrames(camera) {
  return camera.frames;
}

/** The camera's video element: the GPU copies its picture straight into a texture. */
export function cameraVideo(camera) {
  return camera.video;
}

/** The newest camera frame as RGBA bytes at width x height (the browser scales it), through a
 *  canvas kept per size: the page takes a small copy every frame and the models' copy now and
 *  then. */
export function grabFrame(camera, width, height) {
  const key = `${width}x${height}`;
  let context = camera.contexts.get(key);
  if (!context) {
    context = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
    // Shrinking 10x: the default (bilinear) would alias; 'high' averages.
    context.imageSmoothingQuality = 'high';
    camera.contexts.set(key, context);
  }
  context.drawImage(camera.video, 0, 0, width, height);
  return new Uint8Array(context.getImageData(0, 0, width, height).data.buffer);
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A model file from the page's own origin, checked before use against the sha256 values the
 *  manifest accepts (comma-separated: the published file and, for a model converted on the
 *  user's machine, the conversion), and kept in the Cache API so a second visit works offline.
 *  `onProgress(loaded, total)` follows the download. A corrupt cached copy is dropped and fetched
 *  again once. */
export async function fetchModel(url, accepted, onProgress) {
  const hashes = accepted.split(',');
  const cache = await caches.open(MODEL_CACHE);
  const cached = await cache.match(url);
  if (cached) {
    const bytes = await cached.arrayBuffer();
    if (hashes.includes(hex(await crypto.subtle.digest('SHA-256', bytes)))) {
      onProgress(bytes.byteLength, bytes.byteLength);
      return new Uint8Array(bytes);
    }
    await cache.delete(url);
  }
  let response;
  try {
    response = await fetch(url, { cache: 'no-store' });
  } catch (error) {
    throw new Error(`cannot download ${url}: ${error.message}`);
  }
  if (!response.ok) {
    throw new Error(`${url} is not on this site (HTTP ${response.status}); build the site with the model in the store (scripts/build-web.sh)`);
  }
  const total = Number(response.headers.get('content-length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    onProgress(loaded, total);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  const digest = hex(await crypto.subtle.digest('SHA-256', bytes));
  if (!hashes.includes(digest)) {
    throw new Error(`${url} is corrupt: its sha256 is ${digest}, the manifest says ${hashes.join(' or ')}; it was not used`);
  }
  await cache.put(url, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }));
  return bytes;
}

/** An H.264 encoder (WebCodecs, the device's hardware encoder where it has one) emitting Annex-B
 *  access units to `onChunk(bytes, isKey, timestampUs)`. */
export async function openEncoder(width, height, fps, onChunk) {
  if (typeof VideoEncoder === 'undefined') {
    throw new Error('this browser has no WebCodecs video encoder, so it cannot record');
  }
  const config = {
    codec: 'avc1.42002a',
    width,
    height,
    bitrate: Math.round(width * height * fps * 0.1),
    framerate: fps,
    avc: { format: 'annexb' },
  };
  const support = await VideoEncoder.isConfigSupported(config);
  if (!support.supported) {
    throw new Error(`this browser cannot encode H.264 at ${width}x${height}`);
  }
  const recorder = { failure: null, pending: 0 };
  recorder.encoder = new VideoEncoder({
    output: (chunk) => {
      const bytes = new Uint8Array(chunk.byteLength);
      chunk.copyTo(bytes);
      onChunk(bytes, chunk.type === 'key', chunk.timestamp);
    },
    error: (error) => { recorder.failure = error.message; },
  });
  recorder.encoder.configure(config);
  return recorder;
}

/** Encodes one RGBA picture read back from the compositor, at `timestampUs`. Returns false when
 *  the encoder is too busy (the frame is dropped, never queued without bound) or failed. */
export function encodeRgba(recorder, rgba, width, height, timestampUs, keyFrame) {
  if (recorder.failure || recorder.encoder.encodeQueueSize > 4) return false;
  const frame = new VideoFrame(rgba, { format: 'RGBA', codedWidth: width, codedHeight: height, timestamp: timestampUs });
  recorder.encoder.encode(frame, { keyFrame });
  frame.close();
  return true;
}

/** The microphone's sound for a recording, encoded by WebCodecs: AAC where the browser has an
 *  AAC encoder (phones' browsers do), else Opus; both go in MP4. `onChunk(bytes, timestampUs)`
 *  gets each packet, timed on the page's clock (performance.now, in microseconds) by its first
 *  sample. Resolves to the handle; rejects with why there is no sound. */
export async function openMicrophone(onChunk) {
  if (typeof AudioEncoder === 'undefined' || typeof AudioWorkletNode === 'undefined') {
    throw new Error('this browser cannot encode sound (it has no WebCodecs AudioEncoder)');
  }
  const sampleRate = 48000;
  const channels = 1;
  let config = null;
  let codec = null;
  for (const [name, candidate] of [
    ['aac', { codec: 'mp4a.40.2', aac: { format: 'aac' } }],
    ['opus', { codec: 'opus' }],
  ]) {
    const wanted = { ...candidate, sampleRate, numberOfChannels: channels, bitrate: 96000 };
    if ((await AudioEncoder.isConfigSupported(wanted)).supported) {
      config = wanted;
      codec = name;
      break;
    }
  }
  if (!config) throw new Error('this browser encodes neither AAC nor Opus sound');
  let stream;
  try {
    // The room's sound as it is, as a camcorder records it: call processing (echo
    // cancellation, noise suppression, gain control) would pump and thin it.
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: channels, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      video: false,
    });
  } catch (error) {
    throw new Error(error.name === 'NotAllowedError'
      ? 'the microphone was not allowed (allow it in the browser\'s site settings to record sound)'
      : `no microphone (${error.message})`);
  }
  const context = new AudioContext({ sampleRate });
  try {
    await context.audioWorklet.addModule('microphone-worklet.js');
    await context.resume();
    if (context.state !== 'running') throw new Error('the browser kept the sound paused; tap Record to start it');
  } catch (error) {
    stream.getTracks().forEach((track) => track.stop());
    context.close();
    throw error;
  }
  const mic = { codec, sampleRate, channels, stream, context, failure: null, closed: false };
  mic.encoder = new AudioEncoder({
    output: (chunk) => {
      const bytes = new Uint8Array(chunk.byteLength);
      chunk.copyTo(bytes);
      onChunk(bytes, chunk.timestamp);
    },
    error: (error) => { mic.failure = error.message; },
  });
  mic.encoder.configure(config);
  mic.tap = new AudioWorkletNode(context, 'microphone-tap', {
    channelCount: channels, channelCountMode: 'explicit', numberOfOutputs: 1,
  });
  // The page time of the audio clock's frame 0, from the first batch: its last sample was
  // captured about when it arrives. Later batches are timed from it by their frame numbers.
  let origin = null;
  mic.tap.port.onmessage = ({ data }) => {
    if (mic.closed || mic.failure) return;
    const frames = data.planes[0].length;
    origin ??= performance.now() - ((data.firstFrame + frames) / sampleRate) * 1000;
    const joined = new Float32Array(frames * data.planes.length);
    data.planes.forEach((plane, c) => joined.set(plane, c * frames));
    const audio = new AudioData({
      format: 'f32-planar', sampleRate, numberOfFrames: frames, numberOfChannels: data.planes.length,
      timestamp: Math.round((origin + (data.firstFrame / sampleRate) * 1000) * 1000), data: joined,
    });
    mic.encoder.encode(audio);
    audio.close();
  };
  // A muted path to the output keeps the graph pulling samples through the tap.
  const mute = context.createGain();
  mute.gain.value = 0;
  context.createMediaStreamSource(stream).connect(mic.tap).connect(mute).connect(context.destination);
  return mic;
}

/** `[codec, sample rate, channels]` of an open microphone (`aac` or `opus`). */
export function microphoneFormat(mic) {
  return [mic.codec, String(mic.sampleRate), String(mic.channels)];
}

/** Stops the microphone and waits for its last packets; rejects with the encoder's failure. */
export async function closeMicrophone(mic) {
  mic.closed = true;
  mic.stream.getTracks().forEach((track) => track.stop());
  await mic.context.close();
  await mic.encoder.flush();
  mic.encoder.close();
  if (mic.failure) throw new Error(mic.failure);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The picture chooser for a style picture: a hidden file input, so a phone offers its gallery
 *  and camera. `onPicture(name, width, height, rgba)` gets each chosen picture decoded upright
 *  (its EXIF orientation applied), at most `STYLE_PICTURE_MAX` pixels on its longer side;
 *  `onPicture(name, 0, 0, null, reason)` a picture the browser cannot read. */
const STYLE_PICTURE_MAX = 1024;
let stylePictureInput = null;

export function listenStylePicture(onPicture) {
  stylePictureInput = document.createElement('input');
  stylePictureInput.type = 'file';
  stylePictureInput.accept = 'image/*';
  stylePictureInput.id = 'style-picture';
  stylePictureInput.hidden = true;
  document.body.append(stylePictureInput);
  stylePictureInput.addEventListener('change', async () => {
    const file = stylePictureInput.files && stylePictureInput.files[0];
    if (!file) return;
    try {
      const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
      const scale = Math.min(1, STYLE_PICTURE_MAX / Math.max(bitmap.width, bitmap.height));
      const width = Math.max(1, Math.round(bitmap.width * scale));
      const height = Math.max(1, Math.round(bitmap.height * scale));
      const context = new OffscreenCanvas(width, height).getContext('2d');
      context.imageSmoothingQuality = 'high';
      context.drawImage(bitmap, 0, 0, width, height);
      bitmap.close();
      const rgba = new Uint8Array(context.getImageData(0, 0, width, height).data.buffer);
      onPicture(file.name, width, height, rgba, '');
    } catch (error) {
      onPicture(file.name, 0, 0, null, String(error && error.message || error));
    }
    // The same file chosen again is a new choice.
    stylePictureInput.value = '';
  });
}

/** Opens the picture chooser; call while handling the user's tap or click. */
export function pickStylePicture() {
  if (stylePictureInput) stylePictureInput.click();
}

/** Calls `onKey(key)` for each key pressed on the page. */
export function listenKeys(onKey) {
  window.addEventListener('keydown', (event) => { if (!event.repeat) onKey(event.key); });
}

/** Waits for every frame in the encoder; rejects with the encoder's failure, if any. */
export async function closeEncoder(recorder) {
  await recorder.encoder.flush();
  recorder.encoder.close();
  if (recorder.failure) throw new Error(recorder.failure);
}

/** Hands a finished clip or snapshot to the share sheet (on a phone: save it to the gallery, send
 *  it), where the browser has one for files; else, or when sharing is refused (the user's tap no
 *  longer counts) or closed without a choice, saves it as a download, so that nothing recorded is
 *  ever lost. Resolves to how it was saved: `shared` or `downloaded`. */
export async function shareOrSave(bytes, name, type) {
  // A copy first: `bytes` views the module's memory only for the length of this call.
  const file = new File([bytes], name, { type });
  if (navigator.canShare && navigator.canShare({ files: [file] })) {
    try {
      await navigator.share({ files: [file], title: name });
      return 'shared';
    } catch (_) {
      // NotAllowedError or AbortError: the download below keeps the file.
    }
  }
  const url = URL.createObjectURL(file);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return 'downloaded';
}

/** Publishes `summary()` as `window.dreamlens.summary()` for automation. */
export function exposeSummary(summary) {
  window.dreamlens = { summary: () => JSON.parse(summary()) };
}

/** Pointer input on `canvas` (mouse, pen and touch alike), queued for the frame loop as
 *  triples `[kind, x, y]`: kind 0 moved, 1 pressed, 2 released, 3 gone, 4 wheel (x and y are then
 *  the scroll in CSS pixels). Positions are CSS pixels from the canvas's top-left corner. */
const pointerQueue = [];
let goneNext = false;
export function listenPointer(canvas) {
  const at = (event) => {
    const box = canvas.getBoundingClientRect();
    return [event.clientX - box.left, event.clientY - box.top];
  };
  canvas.addEventListener('pointermove', (event) => pointerQueue.push(0, ...at(event)));
  canvas.addEventListener('pointerdown', (event) => {
    // No compatibility mouse events: their focus change would take the keyboard away from a
    // text field a tap just focused.
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    pointerQueue.push(0, ...at(event), 1, ...at(event));
  });
  canvas.addEventListener('pointerup', (event) => {
    pointerQueue.push(2, ...at(event));
    // A finger lifted hovers nowhere, from the next frame on: egui finds what was tapped where
    // the pointer last was in this one.
    if (event.pointerType !== 'mouse') goneNext = true;
  });
  canvas.addEventListener('pointercancel', () => pointerQueue.push(3, 0, 0));
  canvas.addEventListener('pointerleave', (event) => { if (event.pointerType === 'mouse') pointerQueue.push(3, 0, 0); });
  canvas.addEventListener('wheel', (event) => {
    event.preventDefault();
    pointerQueue.push(4, event.deltaX, event.deltaY);
  }, { passive: false });
}

/** Typing for the controls' text fields. A canvas takes no text, and a phone shows its keyboard
 *  only for a focused text element, so a transparent <input> over the field stands in while a
 *  field edits text, and what reaches it is queued for the frame loop as `[kind, value]` pairs:
 *  `text` (characters typed or composed) or `key` (an editing key). Keys typed there never reach
 *  the page's shortcuts (a space in a prompt does not start a recording). */
const typedQueue = [];
const EDITING_KEYS = new Set(['Backspace', 'Delete', 'Enter', 'Escape', 'Tab', 'ArrowLeft',
  'ArrowRight', 'ArrowUp', 'ArrowDown', 'Home', 'End']);
let textAgent = null;
let textFields = [];
function typingAgent(canvas) {
  if (textAgent) return textAgent;
  const input = document.createElement('input');
  input.type = 'text';
  input.setAttribute('autocomplete', 'off');
  input.setAttribute('autocapitalize', 'off');
  input.setAttribute('aria-label', 'text of the field being edited');
  input.spellcheck = false;
  // 16px: smaller text makes a phone zoom the page when the field takes focus.
  Object.assign(input.style, { position: 'fixed', width: '1px', height: '1px', opacity: '0',
    border: '0', padding: '0', fontSize: '16px', left: '0', top: '0' });
  const flush = () => {
    if (input.value) typedQueue.push('text', input.value);
    input.value = '';
  };
  input.addEventListener('input', (event) => { if (!event.isComposing) flush(); });
  input.addEventListener('compositionend', flush);
  // A phone's keyboard may delete through the input events alone (its key reads 'Unidentified').
  input.addEventListener('beforeinput', (event) => {
    if (event.inputType === 'deleteContentBackward') {
      event.preventDefault();
      typedQueue.push('key', 'Backspace');
    }
  });
  input.addEventListener('keydown', (event) => {
    event.stopPropagation();
    if (EDITING_KEYS.has(event.key)) {
      event.preventDefault();
      typedQueue.push('key', event.key);
    }
  });
  document.body.appendChild(input);
  canvas.addEventListener('pointerup', (event) => {
    // Focused inside the finger's own event, as phones show the keyboard only then.
    const box = canvas.getBoundingClientRect();
    const [x, y] = [event.clientX - box.left, event.clientY - box.top];
    const field = textFields.find(([x0, y0, x1, y1]) => x >= x0 && x < x1 && y >= y0 && y < y1);
    if (field) focusAgent(canvas, field);
  });
  textAgent = input;
  return input;
}
function focusAgent(canvas, [x0, y0]) {
  const box = canvas.getBoundingClientRect();
  Object.assign(textAgent.style, { left: `${box.left + x0}px`, top: `${box.top + y0}px` });
  if (document.activeElement !== textAgent) textAgent.focus({ preventScroll: true });
}

/** Where the controls' text fields are, `[x0, y0, x1, y1]` each (one after another) in CSS pixels from the canvas's
 *  top-left corner, and whether one of them edits text now: the typing agent takes focus
 *  (a tap on a field focuses it at once) or gives it back. */
export function setTextFields(canvas, fields, editing) {
  const agent = typingAgent(canvas);
  textFields = [];
  for (let i = 0; i + 4 <= fields.length; i += 4) textFields.push(fields.slice(i, i + 4));
  if (editing && textFields.length > 0) focusAgent(canvas, textFields[0]);
  else if (!editing && document.activeElement === agent) agent.blur();
}

/** The typing queued since the last call, as `[kind, value]` pairs (see `setTextFields`). */
export function takeTyped() {
  return typedQueue.splice(0);
}

/** True when pointer events or typing wait for the frame loop. */
export function hasPointerEvents() {
  return pointerQueue.length > 0 || typedQueue.length > 0;
}

/** The pointer events queued since the last call (see `listenPointer`). */
export function takePointerEvents() {
  const events = new Float64Array(pointerQueue.splice(0));
  if (goneNext) pointerQueue.push(3, 0, 0);
  goneNext = false;
  return events;
}

/** `[width, height, devicePixelRatio]`: the canvas's size on the page in CSS pixels, and device
 *  pixels per CSS pixel. */
export function canvasLayout(canvas) {
  return new Float64Array([canvas.clientWidth, canvas.clientHeight, window.devicePixelRatio || 1]);
}

/** True when the main pointer is a finger (a phone or tablet), not a mouse. */
export function coarsePointer() {
  return window.matchMedia('(pointer: coarse)').matches;
}

/** Loads the page again with the URL parameter `name` set to `value` (another preset). */
export function reloadWith(name, value) {
  const url = new URL(window.location.href);
  if (value) url.searchParams.set(name, value); else url.searchParams.delete(name);
  window.location.assign(url.href);
}

/** Full screen on and off (the `f` key). */
export function toggleFullscreen() {
  if (document.fullscreenElement) {
    document.exitFullscreen();
  } else {
    document.documentElement.requestFullscreen().catch(() => {});
  }
}
