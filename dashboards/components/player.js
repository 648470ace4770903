// The review player: shows the claimed clip, plays its temp clip through a plain <video>
// (the browser fetches /playback/<id>.mp4 with Range requests), and sends actions with
// the id of the clip on screen, so a late or repeated click can never act on another clip.
// The next clips' temp clips wait preloaded in hidden <video> elements; when one of them
// becomes the clip on screen its element is swapped in instead of loading a new source.
// After a verdict (approve / skip / archive) the clip the server will most likely claim
// next (the first upcoming one, already preloaded) starts playing at once, before the
// answer arrives; the buttons stay disabled until it does, and if the server claimed
// another clip that one replaces it. Actions always carry the server-confirmed clip id.
// (timeline.js is prepended to this file: neighbourCard, previews, drawTimeline.)

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
const HELP = [
  ["A", "approve"],
  ["S", "skip"],
  ["X", "archive"],
  ["M", "merge with the previous clip"],
  ["G", "group with the previous clip"],
  ["C or ← / →", "split mode at the current frame; ← / → step 1 frame, held or repeated 2, 4, 8, 16"],
  ["Enter / Esc", "split here / leave split mode"],
  ["[ / ]", "pick the clip's start / end cut to move"],
  [", / .  (< / > ×5)", "move the picked cut one frame earlier / later; Enter applies"],
  ["U or Ctrl/⌘-Z", "undo your last action"],
  ["Space", "play / pause"],
  ["?", "this help"],
];
// Held or quickly repeated arrows step further each time (as the seed's frame navigator).
const STEPS = [1, 2, 4, 8, 16];
const REPEAT_MS = 300;
const POOL_SIZE = 3;
const VERDICTS = new Set(["approve", "skip", "archive"]);
const PAST_TENSE = { approve: "Approving", skip: "Skipping", archive: "Archiving" };
const PRELOAD_MAX_BYTES = 48 * 1024 * 1024;

function el(tag, attrs = {}, text = "") {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (text) n.textContent = text;
  return n;
}

function typingInto(event) {
  const target = event.composedPath()[0];
  if (!target || !target.tagName) return false;
  const tag = target.tagName.toLowerCase();
  return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
}

function makeVideo(url) {
  const v = el("video", { muted: "", loop: "", playsinline: "", preload: "auto" });
  v.muted = true;
  if (url) v.src = url;
  return v;
}

function darkPage() {
  // Video tools are dark; the page behind Panel's root is outside this component.
  document.documentElement.classList.add("mm-dark-page");
  if (!document.getElementById("mm-dark-page-style")) {
    const style = el("style", { id: "mm-dark-page-style" });
    style.textContent =
      "html.mm-dark-page, html.mm-dark-page body { background: #101113; color: #dee2e6; }";
    document.head.append(style);
  }
}

export function render({ model, el: root }) {
  darkPage();
  const box = el("div", { class: "mm-review" });
  const main = el("div", { class: "mm-main" });
  const side = el("aside", { class: "mm-side" });
  const head = el("div", { class: "mm-head" });
  const title = el("h2", { class: "mm-title" });
  const facts = el("div", { class: "mm-facts" });
  const helpButton = el("button", { type: "button", class: "mm-help-btn", title: "Keyboard help (?)" }, "?");
  head.append(title, facts, helpButton);
  const stage = el("div", { class: "mm-stage" });
  const pool = el("div", { class: "mm-pool", "aria-hidden": "true" });
  let video = makeVideo(null);
  video.className = "mm-video";
  video.controls = true;
  video.autoplay = true;
  stage.append(video, pool);
  const message = el("div", { class: "mm-message", role: "status", "aria-live": "polite" });
  const splitBar = el("div", { class: "mm-split", hidden: "" });
  const timelines = el("div", { class: "mm-timelines" });
  const wholeLabel = el("div", { class: "mm-timeline-label" });
  const whole = el("div", { class: "mm-timeline", "data-zoom": "video" });
  const nearLabel = el("div", { class: "mm-timeline-label" }, "around this clip");
  const near = el("div", { class: "mm-timeline mm-near", "data-zoom": "near" });
  const moveBar = el("div", { class: "mm-move" });
  timelines.append(wholeLabel, whole, nearLabel, near, moveBar);
  const buttons = el("div", { class: "mm-buttons" });
  const strip = el("div", { class: "mm-strip" });
  const previewList = el("ul", { class: "mm-previews" });
  side.append(el("h3", {}, "Same video"), strip, el("h3", {}, "What each decision makes"), previewList);
  const help = el("div", { class: "mm-help", hidden: "", role: "dialog", "aria-label": "Keyboard help" });
  const helpTable = el("table");
  for (const [keys, what] of HELP) {
    const row = el("tr");
    row.append(el("td", {}, ""), el("td", {}, what));
    row.firstChild.append(el("kbd", {}, keys));
    helpTable.append(row);
  }
  help.append(el("h3", {}, "Keyboard"), helpTable, el("p", {}, "Esc or ? closes this."));
  const byAction = {};
  for (const [action, label, key] of ACTIONS) {
    const b = el("button", { type: "button", "data-action": action, class: "mm-btn" });
    b.append(label + " ", el("kbd", {}, key.toUpperCase()));
    b.addEventListener("click", (event) => {
      inputAt = event.timeStamp;
      if (action === "split") enterSplit();
      else send(action);
    });
    b.addEventListener("mouseenter", () => highlight(action));
    b.addEventListener("mouseleave", () => highlight(null));
    buttons.append(b);
    byAction[action] = b;
  }
  main.append(head, stage, message, splitBar, timelines, buttons);
  box.append(main, side, help);
  root.append(box);

  let waiting = false;
  let queued = null; // a verdict key pressed on the early-started clip while the last action was in flight
  let splitting = false;
  let splitFrame = 1;
  let move = null; // {from, to, left, right} while a cut is picked
  let shownId = null; // the clip playing: the confirmed one, or a speculative next one
  let playedId = null;
  let inputAt = null; // the timeStamp of the key press or click being handled
  let sentAt = null; // when the last action was asked for (its key press or click)
  let answerMs = null; // how long the server took to answer it
  let speculation = null; // "hit", or why the next clip could not start before the answer
  let swapped = null; // {ms: send -> swap, ready: readyState then} of the last preloaded swap
  let rewinding = null; // the warm clip seeking back to its start, until it has
  let lastStep = { dir: 0, at: 0, level: 0 };
  const preloaded = new Map(); // clip id -> {url, video: hidden <video> or null, abort}

  const clip = () => model.clip;
  const ctx = () => (model.context && clip() && model.context.clip_id === clip().clip_id ? model.context : null);

  function refreshButtons() {
    const c = clip();
    for (const [action, b] of Object.entries(byAction)) {
      let enabled = !waiting && !splitting && !move;
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

  // ---------------------------------------------------------------- context

  function highlight(action) {
    for (const li of previewList.children) li.classList.toggle("mm-hot", li.dataset.action === action);
  }

  function drawContext() {
    const c = clip();
    const x = ctx();
    if (!c || !x) {
      strip.replaceChildren();
      previewList.replaceChildren();
      whole.replaceChildren();
      near.replaceChildren();
      timelines.hidden = true;
      return;
    }
    timelines.hidden = false;
    strip.replaceChildren(neighbourCard(x.previous, "previous", x.fps), neighbourCard(x.next, "next", x.fps));
    const split = splitting ? splitFrame : null;
    previewList.replaceChildren(
      ...previews(c, x, split, move).map(([action, text]) => {
        const li = el("li", { "data-action": action }, text);
        return li;
      })
    );
    const count = x.segments.length;
    wholeLabel.textContent =
      `whole video · ${x.frame_count} frames · ${count} clip${count === 1 ? "" : "s"}` +
      (x.truncated ? " (the nearest 2000 shown)" : "");
    drawTimeline(whole, c, x, split, move);
    const lo = x.previous ? x.previous.start_frame : c.start_frame;
    const hi = x.next ? x.next.end_frame : c.end_frame;
    drawTimeline(near, c, x, split, move, lo, hi);
    drawMoveBar();
  }

  function drawMoveBar() {
    const c = clip();
    const x = ctx();
    const parts = [];
    if (move) {
      parts.push(el("span", {}, `cut ${move.from} → ${move.to}`));
      for (const [label, delta] of [["−5", -5], ["−1", -1], ["+1", 1], ["+5", 5]]) {
        const b = el("button", { type: "button", class: "mm-btn mm-small", "data-nudge": String(delta) }, label);
        b.addEventListener("click", () => nudge(delta));
        parts.push(b);
      }
      const apply = el("button", { type: "button", class: "mm-btn mm-small mm-apply", "data-move": "apply" }, "Move cut");
      apply.disabled = waiting || move.to === move.from;
      apply.addEventListener("click", applyMove);
      const cancel = el("button", { type: "button", class: "mm-btn mm-small", "data-move": "cancel" }, "Cancel");
      cancel.addEventListener("click", () => leaveMove());
      parts.push(apply, cancel);
    } else if (c && x) {
      parts.push(el("span", { class: "mm-dim" }, "Move a cut:"));
      for (const [edge, label, key] of [["start", "start cut", "["], ["end", "end cut", "]"]]) {
        const b = el("button", { type: "button", class: "mm-btn mm-small", "data-pick": edge });
        b.append(label + " ", el("kbd", {}, key));
        b.disabled = waiting || splitting || !(edge === "start" ? x.previous : x.next);
        b.addEventListener("click", () => pickCut(edge));
        parts.push(b);
      }
    }
    moveBar.replaceChildren(...parts);
  }

  function pickCut(edge) {
    const c = clip();
    const x = ctx();
    if (!c || !x || waiting) return;
    const left = edge === "start" ? x.previous : c;
    const right = edge === "start" ? c : x.next;
    if (!left || !right) return;
    const other = edge === "start" ? x.previous : x.next;
    if (other.state !== "pending_review") {
      setLocalMessage(
        `That cut cannot move: clip ${other.clip_id} on its other side is ` +
          `${other.state.replace("_", " ")}, not pending review.`
      );
      return;
    }
    leaveSplit(false);
    const from = edge === "start" ? c.start_frame : c.end_frame;
    move = { from, to: from, left, right };
    refreshButtons();
    drawContext();
  }

  function nudge(delta) {
    if (!move) return;
    move.to = Math.min(Math.max(move.to + delta, move.left.start_frame + 1), move.right.end_frame - 1);
    drawContext();
  }

  function applyMove() {
    if (!move || move.to === move.from || waiting) return;
    const { from, to } = move;
    move = null;
    send("move", { frame: from, to });
    drawContext();
  }

  function leaveMove() {
    if (!move) return;
    move = null;
    refreshButtons();
    drawContext();
  }

  function setLocalMessage(text) {
    message.textContent = text;
    message.className = "mm-message mm-error";
  }

  // ---------------------------------------------------------------- playback

  // The clip on screen plays: report it (event ``mediaml:playing``) once the first frame
  // it presents after being put on screen has been presented while it plays, and the frame
  // after that (its time moves). Times are the frames' expected display times
  // (requestVideoFrameCallback metadata), from the key press or click that sent the action;
  // ``media_time`` says which frame came first (the clip's first frame has media time
  // below one frame duration). A frame that was on screen before ``since`` does not count,
  // nor one presented while a warm clip is still seeking back to its start (it shows where
  // the hidden clip had played to).
  function reportPlaying(v, id, since) {
    if (typeof v.requestVideoFrameCallback !== "function") {
      v.addEventListener("playing", () => notifyPlaying(v, id, null, null), { once: true });
      return;
    }
    let first = null;
    const onFrame = (now, meta) => {
      if (v !== video || shownId !== id || playedId === id) return;
      const again = first && meta.mediaTime === first.mediaTime;
      if (meta.presentationTime < since || v.paused || again || rewinding === v) {
        v.requestVideoFrameCallback(onFrame);
      } else if (!first) {
        first = meta;
        performance.mark("mm:first-frame");
        v.requestVideoFrameCallback(onFrame);
      } else {
        notifyPlaying(v, id, first, meta);
      }
    };
    v.requestVideoFrameCallback(onFrame);
  }

  function notifyPlaying(v, id, first, second) {
    if (v !== video || shownId !== id || playedId === id || v.paused) return;
    playedId = id;
    performance.mark("mm:playing");
    setTimeout(flushLater, 0);
    const since = (t) => (sentAt == null ? null : t - sentAt);
    const now = performance.now();
    if (swapped) swapped.frame_ms = since(first ? first.expectedDisplayTime : now);
    // Where the time went, for bench/review.py: the key press to the first frame on
    // screen and to the next one, which frame that first one was, whether the clip
    // started before the server's answer, and the swap of a preloaded clip.
    const detail = {
      clip_id: id,
      ms: since(first ? first.expectedDisplayTime : now),
      moving_ms: second ? since(second.expectedDisplayTime) : null,
      media_time: first ? first.mediaTime : null,
      seen_ms: since(now),
      speculation,
      answer_ms: answerMs,
      swapped,
    };
    window.dispatchEvent(new CustomEvent("mediaml:playing", { detail }));
  }

  function attach(v) {
    v.addEventListener("error", async () => {
      const c = clip();
      if (v !== video || !c || !c.url || !v.getAttribute("src")) return;
      let reason = "";
      try {
        const response = await fetch(c.url, { headers: { Range: "bytes=0-0" } });
        reason = response.ok ? "the browser cannot decode it" : (await response.text()).trim();
      } catch (err) {
        reason = String(err);
      }
      setLocalMessage(`Clip ${c.clip_id} cannot be played: ${reason}`);
    });
  }
  attach(video);

  // Swap ``next`` in as the player (keeping the player's attributes), dropping the old one.
  function swapIn(next) {
    next.className = "mm-video";
    next.controls = true;
    next.autoplay = true;
    const old = video;
    old.pause();
    old.replaceWith(next);
    video = next;
    // Freeing the old one's media (and warming the clip after this one) waits until the
    // new one plays: neither may compete with its start.
    later(() => {
      old.removeAttribute("src");
      old.load();
    });
  }

  // Run ``work`` once the clip on screen plays (or after 1 s at most).
  let pending = [];
  // Whether the clip on screen is starting (put on screen, its time not moving yet):
  // redrawing the context or loading other clips then would compete with its start.
  // (A clip that cannot be played never starts: nothing waits for it.)
  const starting = () => shownId != null && playedId !== shownId && !video.hidden;
  // ``work`` now, or once the clip on screen plays when it is starting.
  const unlessStarting = (work) => (starting() ? later(work) : work());
  function later(work) {
    if (pending.includes(work)) return;
    pending.push(work);
    if (pending.length === 1) setTimeout(flushLater, 1000);
  }
  function flushLater() {
    const work = pending;
    pending = [];
    for (const w of work) w();
  }

  function play(c) {
    const ready = preloaded.get(c.clip_id);
    const since = performance.now();
    if (ready && ready.video && ready.url === c.url) {
      preloaded.delete(c.clip_id);
      swapped = { ms: sentAt == null ? null : since - sentAt, ready: ready.video.readyState };
      swapIn(ready.video);
      performance.mark("mm:play-preloaded");
      const v = video;
      swapped.warm = !v.paused;
      if (v.currentTime > 0) {
        // Warm (already playing, hidden): back to its start.
        rewinding = v;
        v.addEventListener(
          "seeked",
          () => {
            if (rewinding === v) rewinding = null;
            if (swapped) swapped.seeked_ms = performance.now() - sentAt;
          },
          { once: true }
        );
        v.currentTime = 0;
      }
    } else if (c.url) {
      video.src = c.url;
      performance.mark("mm:play-load");
    }
    reportPlaying(video, c.clip_id, since);
    video.play().catch(() => {});
  }

  function drop(entry) {
    entry.abort.abort();
    if (entry.video) {
      entry.video.removeAttribute("src");
      entry.video.load();
      entry.video.remove();
    }
  }

  // Each upcoming temp clip is downloaded whole (one short request, so the browser's few
  // connections per host are never held by half-read media streams) and waits decoded in
  // a hidden <video> playing from memory. Clips too large for that are left to load on
  // demand.
  async function fetchClip(id, url, entry) {
    try {
      // A range request, as the media element makes (the server answers 206, whole file).
      const response = await fetch(url, { signal: entry.abort.signal, headers: { Range: "bytes=0-" } });
      const size = Number(response.headers.get("content-length") || 0);
      if (!response.ok || size > PRELOAD_MAX_BYTES) {
        entry.abort.abort();
        return;
      }
      const blob = await response.blob();
      if (preloaded.get(id) !== entry) return;
      const local = URL.createObjectURL(blob);
      const v = makeVideo(local); // setting src starts loading; load() here would fire
      attach(v); // "emptied" and revoke the URL before it is read
      pool.append(v);
      v.addEventListener("emptied", () => URL.revokeObjectURL(local), { once: true });
      entry.video = v;
      warm();
    } catch (err) {
      // aborted or failed: the clip loads normally when it is shown
    }
  }

  // ``upcoming`` lists the next clips in order; those marked ready are cut on the server
  // (the others are kept if already here, and fetched once they are cut).
  function preload() {
    const list = (model.upcoming || []).slice(0, POOL_SIZE);
    box.dataset.upcoming = list.map((u) => u.clip_id + (u.ready === false ? "" : "*")).join(" ");
    const wanted = new Map(list.map((u) => [u.clip_id, u.url]));
    const c = clip();
    if (c) wanted.delete(c.clip_id);
    wanted.delete(shownId);
    for (const [id, entry] of preloaded) {
      if (wanted.get(id) !== entry.url) {
        drop(entry);
        preloaded.delete(id);
      }
    }
    const ready = new Set(list.filter((u) => u.ready !== false).map((u) => u.clip_id));
    for (const [id, url] of wanted) {
      if (preloaded.has(id) || !url || !ready.has(id)) continue;
      const entry = { url, video: null, abort: new AbortController() };
      preloaded.set(id, entry);
      fetchClip(id, url, entry);
    }
    warm();
  }

  function syncAddress(c) {
    // The address bar names the clip on screen, so a reload or a shared link opens it.
    const url = new URL(window.location.href);
    if (c) url.searchParams.set("clip", String(c.clip_id));
    else url.searchParams.delete("clip");
    window.history.replaceState(window.history.state, "", url);
  }

  function showFacts(c, pending = c.pending_count) {
    title.textContent = c.title;
    facts.replaceChildren(
      el("span", { class: "mm-fact", "data-fact": "clip" }, `clip ${c.clip_id}`),
      el("span", { class: "mm-fact", "data-fact": "frames" }, `frames ${c.start_frame}–${c.end_frame - 1}`),
      el("span", { class: "mm-fact", "data-fact": "duration" }, `${c.duration.toFixed(2)} s`),
      el("span", { class: "mm-fact", "data-fact": "fps" }, `${+c.fps.toFixed(3)} fps`),
      el("span", { class: "mm-fact", "data-fact": "pending" }, `${pending} pending`)
    );
  }

  // The clip the server will most likely claim after the one on screen (the list may
  // still be the one sent before the last answer, so what is on screen is skipped).
  function likelyNext() {
    const c = clip();
    return (model.upcoming || []).find((u) => u.clip_id !== c?.clip_id && u.clip_id !== shownId);
  }

  // The likely next clip keeps playing, muted and hidden, so swapping it in needs no
  // start-up (a paused element may have released its decoder); the others wait paused.
  function warm() {
    const next = likelyNext();
    for (const [id, entry] of preloaded) {
      if (!entry.video) continue;
      if (next && id === next.clip_id) {
        if (entry.video.paused) entry.video.play().catch(() => {});
      } else if (!entry.video.paused) {
        entry.video.pause();
      }
    }
  }

  // Start the likely next clip while the server answers a verdict (see the top). Returns
  // "hit", or why it could not (reported with the playing event, for the bench).
  function speculate() {
    const c = clip();
    const next = likelyNext();
    if (!c || !next || !next.clip || !next.clip.url) return "no upcoming clip";
    const ready = preloaded.get(next.clip_id);
    if (!ready) return "not preloading";
    if (!ready.video) return "still downloading";
    if (ready.video.readyState < 2) return "not decoded yet";
    shownId = next.clip_id;
    showFacts(next.clip, Math.max(c.pending_count - 1, 0));
    box.dataset.speculative = String(next.clip_id);
    play(next.clip);
    later(warm);
    return "hit";
  }

  // The next clip was started before the server answered; a different answer (the
  // verdict refused, or another clip claimed) replaces it, and the player flashes so the
  // reviewer sees that the screen changed back.
  function settleGuess(c) {
    const guessed = box.dataset.speculative;
    if (!guessed) return;
    delete box.dataset.speculative;
    if (c && guessed === String(c.clip_id)) return;
    box.dataset.rolledBack = guessed;
    box.classList.remove("mm-rolled-back");
    void box.offsetWidth; // restart the flash animation
    box.classList.add("mm-rolled-back");
  }

  function showClip() {
    const c = clip();
    const confirmed = c && box.dataset.speculative === String(c.clip_id);
    settleGuess(c);
    leaveSplit(false);
    move = null;
    if (!c) {
      title.textContent = "Nothing left to review";
      facts.textContent = "Every clip has been reviewed. New clips appear here when videos are processed.";
      video.removeAttribute("src");
      video.load();
      video.hidden = true;
      shownId = null;
    } else {
      showFacts(c);
      video.hidden = !c.url; // a clip that cannot be played says why in the message line
      if (shownId !== c.clip_id) {
        shownId = c.clip_id;
        if (c.url) play(c);
        else {
          video.removeAttribute("src");
          video.load();
        }
      }
    }
    box.dataset.confirmed = c ? String(c.clip_id) : "";
    syncAddress(c);
    refreshButtons();
    // The answer confirms the clip started early: its context and the next preloads
    // wait until it plays.
    if (confirmed) {
      unlessStarting(drawContext);
      unlessStarting(preload);
    } else {
      drawContext();
      preload();
    }
  }

  // Say so in the message line (a key that was not sent, or waits its turn).
  function note(text, kind = "info") {
    message.textContent = text;
    message.className = "mm-message mm-" + kind;
  }

  // A key pressed while the last action is in flight. A verdict on the clip started early
  // waits its turn (one at most) and is sent once the answer confirms that clip; anything
  // else is refused, visibly: actions never overtake each other.
  function whileWaiting(action, key) {
    const onScreen = box.dataset.speculative;
    if (VERDICTS.has(action) && onScreen && !queued) {
      queued = { action, clip_id: Number(onScreen) };
      box.dataset.queued = `${action} ${onScreen}`;
      note(`${PAST_TENSE[action]} clip ${onScreen} once the last decision is saved…`);
    } else {
      note(`"${key}" was ignored: the last ${queued ? "decisions are" : "decision is"} still being saved.`, "error");
    }
  }

  // After an answer: send the verdict that waited, if the answer confirmed its clip.
  function sendQueued() {
    const q = queued;
    queued = null;
    delete box.dataset.queued;
    if (!q) return;
    const c = clip();
    if (c && c.clip_id === q.clip_id) send(q.action);
    else {
      const why = c ? `the server showed clip ${c.clip_id} instead` : "nothing is left to review";
      note(`${model.message ? model.message + " " : ""}Your ${q.action} of clip ${q.clip_id} was not sent: ${why}.`, "error");
    }
  }

  function send(action, extra = {}) {
    const c = clip();
    const at = inputAt;
    inputAt = null;
    if (waiting || (!c && action !== "undo")) return;
    waiting = true;
    sentAt = at ?? performance.now();
    answerMs = null;
    swapped = null;
    performance.mark("mm:send");
    // The likely next clip goes on screen first; the message and the buttons follow.
    speculation = VERDICTS.has(action) ? speculate() : "not a verdict";
    model.send_msg({ action, clip_id: c ? c.clip_id : null, ...extra });
    refreshButtons();
    drawMoveBar();
  }

  // ---------------------------------------------------------------- split mode

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
      `${(splitFrame / fps).toFixed(3)} s) — ←/→ step (hold to speed up) · Enter split here · Esc cancel`;
    splitBar.dataset.frame = String(c.start_frame + splitFrame);
    drawContext();
    highlight("split");
  }

  function enterSplit() {
    const c = clip();
    if (!c || waiting || frameCount() < 2) return false;
    if (splitting) return true;
    move = null;
    splitting = true;
    video.pause();
    const current = Math.floor(video.currentTime * c.fps + 1e-3);
    splitFrame = Math.min(Math.max(current, 1), frameCount() - 1);
    splitBar.hidden = false;
    box.classList.add("mm-splitting");
    lastStep = { dir: 0, at: 0, level: 0 };
    showSplitFrame();
    refreshButtons();
    return true;
  }

  function leaveSplit(resume = true) {
    if (!splitting) return;
    splitting = false;
    splitBar.hidden = true;
    box.classList.remove("mm-splitting");
    refreshButtons();
    drawContext();
    highlight(null);
    if (resume) video.play().catch(() => {});
  }

  // One arrow press: 1 frame, or further when it repeats the last press quickly.
  function step(dir, repeat) {
    const now = performance.now();
    const again = lastStep.dir === dir && (repeat || now - lastStep.at <= REPEAT_MS);
    const level = again ? Math.min(lastStep.level + 1, STEPS.length - 1) : 0;
    lastStep = { dir, at: now, level };
    splitFrame = Math.min(Math.max(splitFrame + dir * STEPS[level], 1), frameCount() - 1);
    splitBar.dataset.step = String(STEPS[level]);
    showSplitFrame();
  }

  // ---------------------------------------------------------------- keys

  function toggleHelp(show = help.hidden) {
    help.hidden = !show;
  }
  helpButton.addEventListener("click", () => toggleHelp());

  function onKey(event) {
    if (typingInto(event)) return;
    inputAt = event.timeStamp;
    const key = event.key;
    if ((event.ctrlKey || event.metaKey) && !event.altKey && key.toLowerCase() === "z") {
      event.preventDefault();
      if (waiting) whileWaiting("undo", "Ctrl-Z");
      else if (!splitting && !move && !byAction.undo.disabled) send("undo");
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (key === "?") {
      toggleHelp();
      event.preventDefault();
      return;
    }
    if (!help.hidden && key === "Escape") {
      toggleHelp(false);
      event.preventDefault();
      return;
    }
    if (move) {
      const deltas = { ",": -1, ".": 1, "<": -5, ">": 5, ArrowLeft: -1, ArrowRight: 1 };
      if (key in deltas) nudge(deltas[key]);
      else if (key === "Enter") applyMove();
      else if (key === "Escape") leaveMove();
      else if (key === "[" || key === "]") pickCut(key === "[" ? "start" : "end");
      else return;
      event.preventDefault();
      return;
    }
    if (key === "ArrowLeft" || key === "ArrowRight") {
      const dir = key === "ArrowRight" ? 1 : -1;
      if (enterSplit()) step(dir, event.repeat);
      event.preventDefault();
      return;
    }
    if (splitting) {
      if (key === "Enter") {
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
    if (key === "[" || key === "]") {
      pickCut(key === "[" ? "start" : "end");
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
    if (waiting && !splitting && !move) whileWaiting(action, key);
    else if (action === "split") enterSplit();
    else if (!byAction[action].disabled) send(action);
  }
  document.addEventListener("keydown", onKey);

  model.on("clip", showClip);
  model.on("context", () => unlessStarting(drawContext));
  model.on("upcoming", () => unlessStarting(preload));
  model.on("message", showMessage);
  model.on("message_kind", showMessage); // either may change first
  model.on("revision", () => {
    if (sentAt != null && answerMs == null) answerMs = performance.now() - sentAt;
    performance.mark("mm:answer");
    const answered = { clip_id: clip() ? clip().clip_id : null, ms: answerMs };
    window.dispatchEvent(new CustomEvent("mediaml:answer", { detail: answered }));
    waiting = false;
    refreshButtons();
    drawMoveBar();
    sendQueued();
  });
  model.on("remove", () => document.removeEventListener("keydown", onKey));
  showClip();
  showMessage();
}
