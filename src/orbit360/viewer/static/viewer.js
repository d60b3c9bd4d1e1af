// orbit360 viewer: plays an equirectangular 360 video with hand-written WebGL.
//
// One full-screen triangle; the fragment shader turns each canvas pixel into a view ray
// (rectilinear, or stereographic for the little planet), rotates it by the view, and
// samples the equirect video texture at that ray's longitude/latitude. Computing the
// ray per pixel (rather than texturing a sphere mesh) keeps straight lines straight at
// any FOV and makes the little planet the same shader with another projection.
//
// Axes as in orbit360.geometry: +x right, +y up, +z forward; lon 0 looks along +z and
// grows to the right; the texture's top row is straight up. The view rotation is
// R = Ry(yaw) Rx(-pitch) Rz(-roll) (positive yaw turns right, positive pitch looks up).
//
// URL parameters (for sharing a view, and for tests): yaw, pitch, fov (degrees),
// t (seconds), planet=1, autoplay=0.
"use strict";

(function () {
  const DEG = Math.PI / 180;
  const FLAT_FOV = { min: 20, max: 140, initial: 90 };
  const PLANET_FOV = { min: 120, max: 330, initial: 280 };

  const canvas = document.getElementById("view");
  const video = document.getElementById("video");
  const playButton = document.getElementById("play");
  const planetButton = document.getElementById("planet");
  const fullscreenButton = document.getElementById("fullscreen");
  const seekBar = document.getElementById("seek");
  const timeLabel = document.getElementById("time");
  const messageBox = document.getElementById("message");

  const params = new URLSearchParams(window.location.search);
  const numberParam = (name, fallback) => {
    const value = parseFloat(params.get(name));
    return Number.isFinite(value) ? value : fallback;
  };

  // The view. Flat and planet modes each remember their own yaw/pitch/fov.
  const state = {
    yaw: numberParam("yaw", 0),
    pitch: numberParam("pitch", 0),
    fov: numberParam("fov", FLAT_FOV.initial),
    planet: params.get("planet") === "1",
    framesUploaded: 0, // video frames copied to the texture (tests wait on this)
    drawnUpload: 0, // the framesUploaded count the last draw showed
    dirty: true, // a frame or view change is waiting for the next draw
    draws: 0,
    error: null,
  };
  let otherMode = { yaw: 0, pitch: -90, fov: PLANET_FOV.initial };
  if (state.planet) {
    otherMode = { yaw: state.yaw, pitch: state.pitch, fov: state.fov };
    state.pitch = numberParam("pitch", -90);
    state.fov = numberParam("fov", PLANET_FOV.initial);
  }
  window.orbit360 = { state, video, canvas };

  function showError(text) {
    state.error = text;
    messageBox.textContent = text;
    messageBox.hidden = false;
  }

  // ---- WebGL setup --------------------------------------------------------------------
  // WebGL2 allows REPEAT on non-power-of-two textures, which makes the lon = +-180 seam
  // blend across the wrap; WebGL1 must clamp (a half-texel seam at most).
  const glOptions = { antialias: false, depth: false, preserveDrawingBuffer: false };
  let gl = canvas.getContext("webgl2", glOptions);
  const isWebGL2 = !!gl;
  if (!gl) gl = canvas.getContext("webgl", glOptions);
  if (!gl) {
    showError("WebGL is not available in this browser, so the 360 view cannot be drawn.");
    return;
  }

  const VERTEX_SHADER = `
    attribute vec2 a_position;
    void main() { gl_Position = vec4(a_position, 0.0, 1.0); }
  `;
  const FRAGMENT_SHADER = `
    precision highp float;
    uniform sampler2D u_texture;
    uniform vec2 u_canvasSize;   // drawing-buffer pixels
    uniform mat3 u_rotation;     // camera -> world
    uniform float u_focal;       // pixels per unit on the image plane
    uniform bool u_planet;
    const float PI = 3.14159265358979;
    void main() {
      // gl_FragCoord is bottom-up with pixel centres at +0.5, so this is already +y up.
      vec2 p = (gl_FragCoord.xy - 0.5 * u_canvasSize) / u_focal;
      vec3 ray;
      if (u_planet) {
        // Inverse stereographic projection (r = 2 tan(theta / 2)), exact for unit rays.
        float r2 = dot(p, p);
        ray = vec3(4.0 * p, 4.0 - r2) / (4.0 + r2);
      } else {
        ray = normalize(vec3(p, 1.0));
      }
      vec3 d = u_rotation * ray;
      float lon = atan(d.x, d.z);
      float lat = asin(clamp(d.y, -1.0, 1.0));
      gl_FragColor = texture2D(u_texture, vec2(lon / (2.0 * PI) + 0.5, 0.5 - lat / PI));
    }
  `;

  function compile(type, source) {
    const shader = gl.createShader(type);
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
      throw new Error("shader: " + gl.getShaderInfoLog(shader));
    }
    return shader;
  }
  const program = gl.createProgram();
  gl.attachShader(program, compile(gl.VERTEX_SHADER, VERTEX_SHADER));
  gl.attachShader(program, compile(gl.FRAGMENT_SHADER, FRAGMENT_SHADER));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
    showError("WebGL program failed to link: " + gl.getProgramInfoLog(program));
    return;
  }
  gl.useProgram(program);

  // One triangle that covers the whole clip square.
  const buffer = gl.createBuffer();
  gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
  gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 3, -1, -1, 3]), gl.STATIC_DRAW);
  const positionLocation = gl.getAttribLocation(program, "a_position");
  gl.enableVertexAttribArray(positionLocation);
  gl.vertexAttribPointer(positionLocation, 2, gl.FLOAT, false, 0, 0);

  const uniforms = {
    canvasSize: gl.getUniformLocation(program, "u_canvasSize"),
    rotation: gl.getUniformLocation(program, "u_rotation"),
    focal: gl.getUniformLocation(program, "u_focal"),
    planet: gl.getUniformLocation(program, "u_planet"),
    texture: gl.getUniformLocation(program, "u_texture"),
  };

  const texture = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, texture);
  // LINEAR, no mipmaps: mipmap selection jumps at the lon seam and draws a line there.
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.LINEAR);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, isWebGL2 ? gl.REPEAT : gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, 1, 1, 0, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array([0, 0, 0, 255]));
  gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false); // row 0 of the video is the texture's t = 0
  gl.uniform1i(uniforms.texture, 0);

  // ---- view maths -------------------------------------------------------------------
  // Row-major 3x3 products; WebGL wants column-major, hence the transpose on upload.
  function multiply(a, b) {
    const out = new Array(9);
    for (let r = 0; r < 3; r++) {
      for (let c = 0; c < 3; c++) {
        out[3 * r + c] = a[3 * r] * b[c] + a[3 * r + 1] * b[3 + c] + a[3 * r + 2] * b[6 + c];
      }
    }
    return out;
  }
  function viewRotation(yawDeg, pitchDeg, rollDeg) {
    const y = yawDeg * DEG, p = -pitchDeg * DEG, r = -rollDeg * DEG;
    const ry = [Math.cos(y), 0, Math.sin(y), 0, 1, 0, -Math.sin(y), 0, Math.cos(y)];
    const rx = [1, 0, 0, 0, Math.cos(p), -Math.sin(p), 0, Math.sin(p), Math.cos(p)];
    const rz = [Math.cos(r), -Math.sin(r), 0, Math.sin(r), Math.cos(r), 0, 0, 0, 1];
    return multiply(multiply(ry, rx), rz);
  }
  const transpose = (m) => [m[0], m[3], m[6], m[1], m[4], m[7], m[2], m[5], m[8]];

  function fovLimits() { return state.planet ? PLANET_FOV : FLAT_FOV; }
  function clampView() {
    const limits = fovLimits();
    state.fov = Math.min(limits.max, Math.max(limits.min, state.fov));
    state.pitch = Math.min(90, Math.max(-90, state.pitch));
    state.yaw = ((((state.yaw + 180) % 360) + 360) % 360) - 180;
  }
  // Pixels per unit on the image plane so that the canvas width spans `fov` degrees.
  function focalLength(width) {
    const half = state.fov * DEG / 2;
    return state.planet ? width / 2 / (2 * Math.tan(half / 2)) : width / 2 / Math.tan(half);
  }

  // ---- drawing ----------------------------------------------------------------------
  let needsDraw = true;
  let frameWaiting = false;
  const requestDraw = () => { needsDraw = true; };

  function resizeCanvas() {
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      needsDraw = true;
    }
  }

  function uploadFrame() {
    if (video.readyState < 2) return; // HAVE_CURRENT_DATA: nothing decoded yet
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, video);
    state.framesUploaded += 1;
    needsDraw = true;
  }

  function draw() {
    clampView();
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.uniform2f(uniforms.canvasSize, canvas.width, canvas.height);
    gl.uniformMatrix3fv(uniforms.rotation, false, transpose(viewRotation(state.yaw, state.pitch, 0)));
    gl.uniform1f(uniforms.focal, focalLength(canvas.width));
    gl.uniform1i(uniforms.planet, state.planet ? 1 : 0);
    gl.drawArrays(gl.TRIANGLES, 0, 3);
    state.draws += 1;
    state.drawnUpload = state.framesUploaded;
  }

  function tick() {
    resizeCanvas();
    // Without requestVideoFrameCallback, copy every animation frame while playing.
    if (frameWaiting || (!("requestVideoFrameCallback" in video) && !video.paused)) {
      frameWaiting = false;
      uploadFrame();
    }
    if (needsDraw) {
      needsDraw = false;
      draw();
    }
    state.dirty = needsDraw || frameWaiting;
    window.requestAnimationFrame(tick);
  }

  if ("requestVideoFrameCallback" in video) {
    const onVideoFrame = () => {
      frameWaiting = true;
      video.requestVideoFrameCallback(onVideoFrame);
    };
    video.requestVideoFrameCallback(onVideoFrame);
  }
  // A paused seek shows a new frame too; take it even where callbacks are missing.
  video.addEventListener("seeked", () => { frameWaiting = true; });
  video.addEventListener("loadeddata", () => { frameWaiting = true; });

  // ---- controls ---------------------------------------------------------------------
  function formatTime(seconds) {
    if (!Number.isFinite(seconds)) seconds = 0;
    const minutes = Math.floor(seconds / 60);
    const rest = seconds - 60 * minutes;
    return minutes + ":" + (rest < 10 ? "0" : "") + rest.toFixed(1);
  }
  let seeking = false;
  function updateTime() {
    timeLabel.textContent = formatTime(video.currentTime) + " / " + formatTime(video.duration);
    if (!seeking) seekBar.value = String(video.currentTime);
  }
  function updatePlayButton() { playButton.textContent = video.paused ? "Play" : "Pause"; }
  function togglePlay() {
    if (video.paused) video.play().catch((err) => showError("Cannot play: " + err.message));
    else video.pause();
  }
  function setPlanet(on) {
    if (on === state.planet) return;
    const current = { yaw: state.yaw, pitch: state.pitch, fov: state.fov };
    state.planet = on;
    Object.assign(state, otherMode);
    otherMode = current;
    planetButton.setAttribute("aria-pressed", on ? "true" : "false");
    requestDraw();
  }
  function toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else document.documentElement.requestFullscreen().catch(() => {});
  }

  video.addEventListener("loadedmetadata", () => {
    seekBar.max = String(video.duration || 0);
    updateTime();
  });
  video.addEventListener("timeupdate", updateTime);
  video.addEventListener("seeked", updateTime);
  video.addEventListener("play", updatePlayButton);
  video.addEventListener("pause", updatePlayButton);
  video.addEventListener("error", () => {
    const unsupported = video.error && video.error.code === MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED;
    showError(unsupported
      ? "This browser cannot decode the video (Chromium does not play HEVC). " +
        "Run `orbit360 publish FILE` to make an H.264 web rendition and view that."
      : "The video could not be loaded" + (video.error && video.error.message ? ": " + video.error.message : "."));
  });

  seekBar.addEventListener("input", () => {
    seeking = true;
    video.currentTime = parseFloat(seekBar.value);
    timeLabel.textContent = formatTime(video.currentTime) + " / " + formatTime(video.duration);
  });
  seekBar.addEventListener("change", () => { seeking = false; });
  playButton.addEventListener("click", togglePlay);
  planetButton.addEventListener("click", () => setPlanet(!state.planet));
  fullscreenButton.addEventListener("click", toggleFullscreen);

  // Drag to look: the grabbed point follows the pointer (degrees per pixel = fov / width).
  // Two pointers pinch-zoom.
  const pointers = new Map();
  let pinchDistance = 0;
  function pointerSpread() {
    const [a, b] = [...pointers.values()];
    return Math.hypot(a.x - b.x, a.y - b.y);
  }
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    canvas.classList.add("dragging");
    canvas.focus();
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (pointers.size === 2) pinchDistance = pointerSpread();
  });
  canvas.addEventListener("pointermove", (event) => {
    const last = pointers.get(event.pointerId);
    if (!last) return;
    const dx = event.clientX - last.x, dy = event.clientY - last.y;
    pointers.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (pointers.size === 1) {
      const degreesPerPixel = (state.planet ? 0.25 : 1) * state.fov / canvas.clientWidth;
      state.yaw -= dx * degreesPerPixel;
      state.pitch += dy * degreesPerPixel;
    } else if (pointers.size === 2 && pinchDistance > 0) {
      const spread = pointerSpread();
      state.fov *= pinchDistance / Math.max(1, spread);
      pinchDistance = spread;
    }
    requestDraw();
  });
  const endPointer = (event) => {
    pointers.delete(event.pointerId);
    if (pointers.size < 2) pinchDistance = 0;
    if (pointers.size === 0) canvas.classList.remove("dragging");
  };
  canvas.addEventListener("pointerup", endPointer);
  canvas.addEventListener("pointercancel", endPointer);
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    state.fov *= Math.exp(event.deltaY * 0.001);
    requestDraw();
  }, { passive: false });

  window.addEventListener("keydown", (event) => {
    // A focused button already acts on space/Enter, and the seek bar on the arrows; acting
    // here too would toggle play twice or move two things at once.
    const target = event.target;
    if (target instanceof HTMLButtonElement && (event.key === " " || event.key === "Enter")) return;
    if (target instanceof HTMLInputElement && event.key.startsWith("Arrow")) return;
    const step = state.fov / 18;
    const keys = {
      ArrowLeft: () => { state.yaw -= step; },
      ArrowRight: () => { state.yaw += step; },
      ArrowUp: () => { state.pitch += step; },
      ArrowDown: () => { state.pitch -= step; },
      "+": () => { state.fov /= 1.1; },
      "=": () => { state.fov /= 1.1; },
      "-": () => { state.fov *= 1.1; },
      " ": togglePlay,
      p: () => setPlanet(!state.planet),
      f: toggleFullscreen,
    };
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    action();
    requestDraw();
  });
  window.addEventListener("resize", requestDraw);

  // ---- start ------------------------------------------------------------------------
  planetButton.setAttribute("aria-pressed", state.planet ? "true" : "false");
  // A published site (`orbit360 publish --site`) may be hosted by a static server without
  // byte ranges (Python's http.server): the browser cannot seek in such a response, so the
  // video is fetched once whole and played from memory, where seeking always works.
  function playableSource(config) {
    if (!config.rangeCheck) return Promise.resolve(config.video);
    return fetch(config.video, { method: "HEAD" })
      .then((head) => {
        if ((head.headers.get("Accept-Ranges") || "").toLowerCase().includes("bytes")) return config.video;
        return fetch(config.video).then((r) => r.blob()).then((blob) => URL.createObjectURL(blob));
      })
      .catch(() => config.video);
  }

  fetch("config.json")
    .then((response) => response.json())
    .then((config) => {
      document.title = config.title + " - orbit360";
      const startTime = numberParam("t", 0);
      if (startTime > 0) {
        video.addEventListener("loadedmetadata", () => { video.currentTime = startTime; }, { once: true });
      }
      return playableSource(config).then((url) => {
        video.src = url;
        if (params.get("autoplay") !== "0") {
          video.play().catch(() => updatePlayButton()); // autoplay refused: wait for a click
        }
      });
    })
    .catch((err) => showError("Cannot load the viewer configuration: " + err.message));
  window.requestAnimationFrame(tick);
})();
