// A grid of clip cards (thumbnail, title, similarity). Clicking a card reports its clip id.
// Above the cards: the server's header line and, with turn_labels, a pager whose buttons
// report {turn: -1} or {turn: 1}.
// Hovering a card plays its clip over the thumbnail (muted, looped): the exported file or
// the temp clip, fetched with Range requests by the media element; leaving stops it.

function card(item) {
  const node = document.createElement("button");
  node.type = "button";
  node.className = "mm-card";
  node.dataset.clipId = String(item.clip_id);
  const frame = document.createElement("div");
  frame.className = "mm-frame";
  const thumb = document.createElement(item.thumb ? "img" : "div");
  thumb.className = "mm-thumb";
  if (item.thumb) {
    thumb.src = item.thumb;
    thumb.alt = `clip ${item.clip_id}`;
    thumb.loading = "lazy";
  } else {
    thumb.textContent = "no keyframe";
  }
  frame.append(thumb);
  // A card without a similarity (a map selection's) has no badge, not an empty one.
  const score = [];
  if (item.similarity != null) {
    const badge = document.createElement("span");
    badge.className = "mm-score";
    badge.textContent = `${item.similarity.toFixed(1)}%`;
    score.push(badge);
  }
  const label = document.createElement("span");
  label.className = "mm-label";
  label.textContent = `#${item.clip_id} · ${item.title}`;
  const frames = document.createElement("span");
  frames.className = "mm-frames";
  frames.textContent = `frames ${item.start_frame}–${item.end_frame - 1}`;
  node.append(frame, ...score, label, frames);
  return node;
}

function button(step) {
  const node = document.createElement("button");
  node.type = "button";
  node.className = "mm-turn";
  node.dataset.turn = String(step);
  return node;
}

export function render({ model, el }) {
  const header = document.createElement("div");
  header.className = "mm-grid-header";
  const pager = document.createElement("div");
  pager.className = "mm-pager";
  const label = document.createElement("span");
  label.className = "mm-page-label";
  const back = button(-1);
  const forth = button(1);
  const grid = document.createElement("div");
  grid.className = "mm-grid";
  const empty = document.createElement("div");
  empty.className = "mm-empty";
  let byId = new Map();
  let hovered = null; // {card, video}

  function draw() {
    stopPreview();
    const items = model.items || [];
    byId = new Map(items.map((item) => [item.clip_id, item]));
    grid.replaceChildren(...items.map(card));
    empty.textContent = items.length ? "" : model.empty_text;
  }

  // ``started``: when the pointer entered (the event's time stamp), for the playing event.
  function startPreview(target, started) {
    if (hovered && hovered.card === target) return;
    stopPreview();
    const id = Number(target.dataset.clipId);
    const item = byId.get(id);
    if (!item) return;
    const video = document.createElement("video");
    video.className = "mm-preview";
    video.muted = true;
    video.loop = true;
    video.playsInline = true;
    video.preload = "auto";
    video.src = item.preview || `/playback/${id}.mp4`;
    video.addEventListener(
      "playing",
      () => {
        target.classList.add("mm-playing");
        const detail = { clip_id: id, ms: performance.now() - started };
        window.dispatchEvent(new CustomEvent("mediaml:preview-playing", { detail }));
      },
      { once: true }
    );
    target.querySelector(".mm-frame").append(video);
    hovered = { card: target, video };
    video.play().catch(() => {}); // a clip that cannot play leaves the thumbnail showing
  }

  function stopPreview() {
    if (!hovered) return;
    const { card: target, video } = hovered;
    hovered = null;
    target.classList.remove("mm-playing");
    video.pause();
    video.removeAttribute("src");
    video.load();
    video.remove();
  }

  function drawHeader() {
    header.innerHTML = model.header;
    header.hidden = !model.header;
  }

  function drawPager() {
    const labels = model.turn_labels || [];
    const can = model.can_turn || [false, false];
    pager.hidden = labels.length !== 2;
    [back.textContent, forth.textContent] = labels;
    back.disabled = !can[0];
    forth.disabled = !can[1];
    label.textContent = model.page_label;
    pager.replaceChildren(back, ...(model.page_label ? [label] : []), forth);
  }

  pager.addEventListener("click", (event) => {
    const target = event.target.closest(".mm-turn");
    if (target && !target.disabled) model.send_msg({ turn: Number(target.dataset.turn) });
  });
  grid.addEventListener("click", (event) => {
    const target = event.target.closest(".mm-card");
    if (target) model.send_msg({ clip_id: Number(target.dataset.clipId) });
  });
  grid.addEventListener("pointerover", (event) => {
    const target = event.target.closest(".mm-card");
    if (target) startPreview(target, event.timeStamp);
  });
  grid.addEventListener("pointerout", (event) => {
    if (hovered && !hovered.card.contains(event.relatedTarget)) stopPreview();
  });
  model.on("items", draw);
  model.on("empty_text", draw);
  model.on("header", drawHeader);
  for (const name of ["turn_labels", "can_turn", "page_label"]) model.on(name, drawPager);
  el.append(header, pager, empty, grid);
  drawHeader();
  drawPager();
  draw();
}
