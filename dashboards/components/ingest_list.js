// The live list of videos on the ingest page: stage, progress bar, error, retry.

function row(item) {
  const node = document.createElement("div");
  node.className = `mm-video mm-${item.tone}`;
  node.dataset.videoId = String(item.video_id);
  node.dataset.state = item.state;
  const head = document.createElement("div");
  head.className = "mm-video-head";
  const title = document.createElement("span");
  title.className = "mm-video-title";
  title.textContent = `#${item.video_id} · ${item.title}`;
  const stage = document.createElement("span");
  stage.className = "mm-video-stage";
  stage.textContent = item.stage;
  head.append(title, stage);
  const source = document.createElement("div");
  source.className = "mm-video-source";
  source.textContent = item.source;
  node.append(head, source);
  if (item.progress != null) {
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = item.progress;
    node.append(bar);
  }
  if (item.error) {
    const error = document.createElement("div");
    error.className = "mm-video-error";
    error.textContent = item.error;
    node.append(error);
  }
  if (item.retry) {
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "mm-retry";
    retry.dataset.retry = String(item.video_id);
    retry.textContent = "Retry";
    node.append(retry);
  }
  if (item.review_url) {
    const link = document.createElement("a");
    link.className = "mm-review-link";
    link.href = item.review_url;
    link.textContent = `Review ${item.pending} clip${item.pending === 1 ? "" : "s"} →`;
    node.append(link);
  }
  return node;
}

export function render({ model, el }) {
  const list = document.createElement("div");
  list.className = "mm-videos";
  const empty = document.createElement("div");
  empty.className = "mm-empty";
  function draw() {
    const items = model.items || [];
    list.replaceChildren(...items.map(row));
    empty.textContent = items.length ? "" : "No videos yet: add a URL or upload a file.";
  }
  list.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-retry]");
    if (button) {
      button.disabled = true;
      button.textContent = "Retrying…";
      model.send_msg({ retry: Number(button.dataset.retry) });
    }
  });
  model.on("items", draw);
  el.append(empty, list);
  draw();
}
