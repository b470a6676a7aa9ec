// The microphone's samples, off the audio thread: each render quantum (128 frames) is copied,
// and every 1024 frames go to the page with the audio clock's frame number of their first one,
// so the page times them by the sample, not by when the message arrives.
const BATCH = 1024;

class MicrophoneTap extends AudioWorkletProcessor {
  constructor() {
    super();
    this.planes = null;
    this.filled = 0;
    this.firstFrame = 0;
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    if (!this.planes) this.planes = input.map(() => new Float32Array(BATCH));
    if (this.filled === 0) this.firstFrame = currentFrame;
    const frames = input[0].length;
    for (let c = 0; c < this.planes.length; c++) {
      this.planes[c].set((input[c] || input[0]).subarray(0, Math.min(frames, BATCH - this.filled)), this.filled);
    }
    this.filled += frames;
    if (this.filled >= BATCH) {
      this.port.postMessage({ firstFrame: this.firstFrame, planes: this.planes }, this.planes.map((p) => p.buffer));
      this.planes = this.planes.map(() => new Float32Array(BATCH));
      this.filled = 0;
    }
    return true;
  }
}

registerProcessor('microphone-tap', MicrophoneTap);
