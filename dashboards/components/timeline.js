// The review page's context: the previous and next clips of the same video (poster,
// duration, click to play), a timeline of the whole video with every cut, and what
// merge / group / split / a moved cut would produce. Pure drawing: player.js owns the
// state and calls these with it.

const STATE_LABEL = {
  pending_review: "pending",
  review_approved: "approved",
  review_skipped: "skipped",
  review_archived: "archived",
};

function node(tag, attrs = {}, text = "") {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (text) n.textContent = text;
  return n;
}

function seconds(frames, fps) {
  return `${(frames / fps).toFixed(2)} s`;
}

function frameRange(start, end) {
  return `frames ${start}–${end - 1}`;
}

// A neighbour card: keyframe poster when it has one, otherwise its temp clip paused on its
// first frame; a click plays it in place (muted, looped) and a second click pauses it.
function neighbourCard(seg, which, fps) {
  const card = node("div", { class: "mm-neighbour", "data-which": which });
  const label = node("div", { class: "mm-neighbour-label" });
  if (!seg) {
    card.classList.add("mm-none");
    label.textContent = which === "previous" ? "first clip of the video" : "last clip of the video";
    card.append(node("div", { class: "mm-neighbour-media mm-blank" }), label);
    return card;
  }
  card.dataset.clipId = String(seg.clip_id);
  const video = node("video", {
    class: "mm-neighbour-media",
    muted: "",
    playsinline: "",
    loop: "",
    preload: seg.poster ? "none" : "metadata",
    src: seg.url + (seg.poster ? "" : "#t=0.001"),
  });
  video.muted = true;
  if (seg.poster) video.poster = seg.poster;
  video.addEventListener("click", () => {
    if (video.paused) {
      video.currentTime = 0;
      video.play().catch(() => {});
    } else video.pause();
  });
  const arrow = which === "previous" ? "‹ previous" : "next ›";
  label.append(
    node("b", {}, arrow),
    ` · clip ${seg.clip_id} · ${seconds(seg.end_frame - seg.start_frame, fps)} · `,
    node("span", { class: `mm-state mm-state-${seg.state}` }, STATE_LABEL[seg.state] || seg.state)
  );
  card.append(video, label);
  return card;
}

// What each decision would produce, from the clip and its context alone.
function previews(clip, ctx, split, move) {
  const fps = ctx.fps;
  const lines = [];
  const prev = ctx.previous;
  if (prev) {
    const ok = prev.state !== "review_archived";
    lines.push([
      "merge",
      `Merge → one clip, ${frameRange(prev.start_frame, clip.end_frame)}, ` +
        `${seconds(clip.end_frame - prev.start_frame, fps)} (replaces clips ${prev.clip_id} and ${clip.clip_id})`,
    ]);
    lines.push([
      "group",
      ok
        ? `Group → clips ${prev.clip_id} (${STATE_LABEL[prev.state] || prev.state}) and ${clip.clip_id} ` +
          "approved together, each kept as its own clip"
        : `Group → refused: clip ${prev.clip_id} was archived in review`,
    ]);
  } else {
    lines.push(["merge", "Merge / Group → not possible: this is the first clip of its video"]);
  }
  if (split != null) {
    const at = clip.start_frame + split;
    lines.push([
      "split",
      `Split at frame ${at} → ${frameRange(clip.start_frame, at)} (${seconds(split, fps)}) + ` +
        `${frameRange(at, clip.end_frame)} (${seconds(clip.end_frame - at, fps)})`,
    ]);
  } else {
    lines.push(["split", "Split → press ← / → (or C) to pick the frame; the result shows here"]);
  }
  if (move) {
    const left = move.left;
    const right = move.right;
    lines.push([
      "move",
      `Move cut ${move.from} → ${move.to}: ${frameRange(left.start_frame, move.to)} ` +
        `(${seconds(move.to - left.start_frame, fps)}) + ${frameRange(move.to, right.end_frame)} ` +
        `(${seconds(right.end_frame - move.to, fps)}) — Enter applies, Esc cancels`,
    ]);
  }
  return lines;
}

// Frames ``lo``..``hi`` of the video as a bar: one block per live clip coloured by state,
// a tick at every cut, the current clip outlined; a provisional cut (split or move) drawn
// in yellow. The page draws it twice: the whole video, and a zoom on the clip's neighbours.
function drawTimeline(bar, clip, ctx, split, move, lo = 0, hi = ctx.frame_count) {
  const span = Math.max(hi - lo, 1);
  const pct = (f) => `${(100 * (Math.min(Math.max(f, lo), hi) - lo)) / span}%`;
  const parts = [];
  const cuts = [];
  for (const seg of ctx.segments) {
    if (seg.end_frame <= lo || seg.start_frame >= hi) continue;
    const block = node("div", {
      class: `mm-seg mm-state-${seg.state}` + (seg.clip_id === clip.clip_id ? " mm-current" : ""),
      "data-clip-id": String(seg.clip_id),
      title: `clip ${seg.clip_id} · ${frameRange(seg.start_frame, seg.end_frame)} · ${STATE_LABEL[seg.state] || seg.state}`,
    });
    block.style.left = pct(seg.start_frame);
    block.style.width = `calc(${pct(seg.end_frame)} - ${pct(seg.start_frame)})`;
    parts.push(block);
    if (seg.start_frame > lo) {
      cuts.push(seg.start_frame);
      const tick = node("div", { class: "mm-cut", "data-frame": String(seg.start_frame) });
      tick.style.left = pct(seg.start_frame);
      if (move && move.from === seg.start_frame) tick.classList.add("mm-cut-selected");
      parts.push(tick);
    }
  }
  const pending = move ? move.to : split != null ? clip.start_frame + split : null;
  if (pending != null) {
    const ghost = node("div", { class: "mm-cut mm-cut-new", "data-frame": String(pending) });
    ghost.style.left = pct(pending);
    parts.push(ghost);
  }
  bar.replaceChildren(...parts);
  bar.dataset.cuts = cuts.join(",");
  bar.dataset.range = `${lo}-${hi}`;
}
