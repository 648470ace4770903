// The review player: shows the claimed clip, plays its temp clip through a plain <video>
// (the browser fetches /playback/<id>.mp4 with Range requests), and sends actions with
// the id of the clip on screen, so a late or repeated click can never act on another clip.

const ACTIONS = [
  ["approve", "Approve", "a"],
  ["skip", "Skip", "s"],
  ["archive", "Archive", "x"],
  ["merge", "Merge with previous", "m"],
  ["group", "Group with previous", "g"],
  ["split", "Split…", "c"],
  ["undo", "Undo", "u"],
];
const KEYS = Object.fromEntries(ACTIONS.map(([action, , key]) => [key, action]));

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function typingInto(event) {
  const target = event.composedPath()[0];
  if (!target || !target.tagName) return false;
  const tag = target.tagName.toLowerCase();
  return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
}

export function render({ model, el: root }) {
  const box = el("div", { class: "mm-review" });
  const title = el("h2", { class: "mm-title" });
  const facts = el("div", { class: "mm-facts" });
  const message = el("div", { class: "mm-message", role: "status", "aria-live": "polite" });
  const video = el("video", {
    class: "mm-video",
    controls: "",
    autoplay: "",
    muted: "",
    loop: "",
    playsinline: "",
    preload: "auto",
  });
  video.muted = true;
  const splitBar = el("div", { class: "mm-split", hidden: "" });
  const buttons = el("div", { class: "mm-buttons" });
  const help = el(
    "div",
    { class: "mm-help" },
    "Keys: A approve · S skip · X archive · M merge · G group · C split (←/→ one frame, " +
      "Enter split here, Esc cancel) · U undo · Space play/pause"
  );
  const byAction = {};
  for (const [action, label, key] of ACTIONS) {
    const b = el("button", { type: "button", "data-action": action, class: "mm-btn" });
    b.append(label + " ", el("kbd", {}, key.toUpperCase()));
    b.addEventListener("click", () => (action === "split" ? enterSplit() : send(action)));
    buttons.append(b);
    byAction[action] = b;
  }
  box.append(title, facts, message, video, splitBar, buttons, help);
  root.append(box);

  let waiting = false;
  let splitting = false;
  let splitFrame = 1;
  let shownId = null;
  let playedId = null;
  let sentAt = null;

  function clip() {
    return model.clip;
  }

  function refreshButtons() {
    const c = clip();
    for (const [action, b] of Object.entries(byAction)) {
      let enabled = !waiting && !splitting;
      if (action !== "undo") enabled = enabled && !!c;
      if (action === "merge" || action === "group") enabled = enabled && c && c.previous_clip_id != null;
      b.disabled = !enabled;
      b.title =
        !c || c.previous_clip_id != null || (action !== "merge" && action !== "group")
          ? ""
          : "This is the first clip of its video: there is no previous clip";
    }
  }

  function showMessage() {
    message.textContent = model.message || "";
    message.className = "mm-message mm-" + (model.message_kind || "info");
  }

  function showClip() {
    const c = clip();
    leaveSplit(false);
    if (!c) {
      title.textContent = "Nothing left to review";
      facts.textContent = "Every clip has been reviewed. New clips appear here when videos are processed.";
      video.removeAttribute("src");
      video.load();
      video.hidden = true;
      shownId = null;
    } else {
      title.textContent = c.title;
      facts.replaceChildren(
        el("span", { class: "mm-fact", "data-fact": "clip" }, `clip ${c.clip_id}`),
        el("span", { class: "mm-fact", "data-fact": "frames" }, `frames ${c.start_frame}–${c.end_frame - 1}`),
        el("span", { class: "mm-fact", "data-fact": "duration" }, `${c.duration.toFixed(2)} s`),
        el("span", { class: "mm-fact", "data-fact": "fps" }, `${+c.fps.toFixed(3)} fps`),
        el("span", { class: "mm-fact", "data-fact": "pending" }, `${c.pending_count} pending`)
      );
      video.hidden = !c.url; // a clip that cannot be played says why in the message line
      if (shownId !== c.clip_id) {
        shownId = c.clip_id;
        if (c.url) {
          video.src = c.url;
          video.play().catch(() => {});
        } else {
          video.removeAttribute("src");
          video.load();
        }
      }
    }
    refreshButtons();
  }

  function send(action, extra = {}) {
    const c = clip();
    if (waiting || (!c && action !== "undo")) return;
    waiting = true;
    sentAt = performance.now();
    refreshButtons();
    model.send_msg({ action, clip_id: c ? c.clip_id : null, ...extra });
  }

  function frameCount() {
    const c = clip();
    return c ? c.end_frame - c.start_frame : 0;
  }

  function showSplitFrame() {
    const c = clip();
    const fps = c.fps;
    video.currentTime = (splitFrame + 0.5) / fps; // the middle of the frame shows that frame
    splitBar.textContent =
      `Split before frame ${c.start_frame + splitFrame} (${splitFrame} of ${frameCount()} in this clip, ` +
      `${(splitFrame / fps).toFixed(3)} s) — ←/→ one frame · Enter split here · Esc cancel`;
    splitBar.dataset.frame = String(c.start_frame + splitFrame);
  }

  function enterSplit() {
    const c = clip();
    if (!c || waiting || frameCount() < 2) return;
    splitting = true;
    video.pause();
    const current = Math.floor(video.currentTime * c.fps + 1e-3);
    splitFrame = Math.min(Math.max(current, 1), frameCount() - 1);
    splitBar.hidden = false;
    box.classList.add("mm-splitting");
    showSplitFrame();
    refreshButtons();
  }

  function leaveSplit(resume = true) {
    if (!splitting) return;
    splitting = false;
    splitBar.hidden = true;
    box.classList.remove("mm-splitting");
    refreshButtons();
    if (resume) video.play().catch(() => {});
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typingInto(event)) return;
    const key = event.key;
    if (splitting) {
      if (key === "ArrowLeft" || key === "ArrowRight") {
        splitFrame = Math.min(Math.max(splitFrame + (key === "ArrowRight" ? 1 : -1), 1), frameCount() - 1);
        showSplitFrame();
      } else if (key === "Enter") {
        const offset = splitFrame / clip().fps;
        leaveSplit(false);
        send("split", { offset_seconds: offset });
      } else if (key === "Escape") {
        leaveSplit();
      } else {
        return;
      }
      event.preventDefault();
      return;
    }
    if (key === " ") {
      if (video.paused) video.play().catch(() => {});
      else video.pause();
      event.preventDefault();
      return;
    }
    const action = KEYS[key.toLowerCase()];
    if (!action) return;
    event.preventDefault();
    if (action === "split") enterSplit();
    else if (!byAction[action].disabled) send(action);
  }
  document.addEventListener("keydown", onKey);

  video.addEventListener("playing", () => {
    const c = clip();
    if (!c || playedId === c.clip_id) return;
    playedId = c.clip_id;
    const detail = { clip_id: c.clip_id, ms: sentAt == null ? null : performance.now() - sentAt };
    window.dispatchEvent(new CustomEvent("mediaml:playing", { detail }));
  });
  video.addEventListener("error", async () => {
    const c = clip();
    if (!c || !c.url || !video.getAttribute("src")) return;
    let reason = "";
    try {
      const response = await fetch(c.url, { headers: { Range: "bytes=0-0" } });
      reason = response.ok ? "the browser cannot decode it" : (await response.text()).trim();
    } catch (err) {
      reason = String(err);
    }
    message.textContent = `Clip ${c.clip_id} cannot be played: ${reason}`;
    message.className = "mm-message mm-error";
  });

  model.on("clip", showClip);
  model.on("message", showMessage);
  model.on("revision", () => {
    waiting = false;
    refreshButtons();
  });
  model.on("remove", () => document.removeEventListener("keydown", onKey));
  showClip();
  showMessage();
}
