// A grid of clip cards (thumbnail, title, similarity). Clicking a card reports its clip id.

function card(item) {
  const node = document.createElement("button");
  node.type = "button";
  node.className = "mm-card";
  node.dataset.clipId = String(item.clip_id);
  const thumb = document.createElement(item.thumb ? "img" : "div");
  thumb.className = "mm-thumb";
  if (item.thumb) {
    thumb.src = item.thumb;
    thumb.alt = `clip ${item.clip_id}`;
    thumb.loading = "lazy";
  } else {
    thumb.textContent = "no keyframe";
  }
  const score = document.createElement("span");
  score.className = "mm-score";
  score.textContent = item.similarity == null ? "" : `${item.similarity.toFixed(1)}%`;
  const label = document.createElement("span");
  label.className = "mm-label";
  label.textContent = `#${item.clip_id} · ${item.title}`;
  const frames = document.createElement("span");
  frames.className = "mm-frames";
  frames.textContent = `frames ${item.start_frame}–${item.end_frame - 1}`;
  node.append(thumb, score, label, frames);
  return node;
}

export function render({ model, el }) {
  const grid = document.createElement("div");
  grid.className = "mm-grid";
  const empty = document.createElement("div");
  empty.className = "mm-empty";
  function draw() {
    const items = model.items || [];
    grid.replaceChildren(...items.map(card));
    empty.textContent = items.length ? "" : model.empty_text;
  }
  grid.addEventListener("click", (event) => {
    const target = event.target.closest(".mm-card");
    if (target) model.send_msg({ clip_id: Number(target.dataset.clipId) });
  });
  model.on("items", draw);
  model.on("empty_text", draw);
  el.append(empty, grid);
  draw();
}
