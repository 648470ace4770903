// Upload box: pick or drop video files; each is PUT to the upload route as a raw body
// (streamed by the browser, never read into memory here) with its own progress bar.

function fmtBytes(n) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function render({ model, el }) {
  const box = document.createElement("label");
  box.className = "mm-drop";
  const input = document.createElement("input");
  input.type = "file";
  input.multiple = true;
  input.accept = "video/*,.mkv,.mts,.m2ts,.mxf,.dv";
  input.className = "mm-file-input";
  const hint = document.createElement("span");
  hint.textContent = "Drop video files here or click to choose";
  box.append(input, hint);
  const list = document.createElement("div");
  list.className = "mm-uploads";

  function send(file) {
    const row = document.createElement("div");
    row.className = "mm-upload";
    row.dataset.name = file.name;
    const name = document.createElement("span");
    name.className = "mm-upload-name";
    name.textContent = `${file.name} (${fmtBytes(file.size)})`;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    const status = document.createElement("span");
    status.className = "mm-upload-status";
    status.textContent = "uploading 0 %";
    row.append(name, bar, status);
    list.prepend(row);
    const fail = (text) => {
      row.classList.add("mm-failed");
      status.textContent = text;
      model.send_msg({ error: text, name: file.name });
    };
    if (model.max_bytes && file.size > model.max_bytes) {
      fail(`over the ${fmtBytes(model.max_bytes)} limit`);
      return;
    }
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `${model.url}?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable) {
        const pct = Math.floor((100 * event.loaded) / event.total);
        bar.value = pct;
        status.textContent = pct < 100 ? `uploading ${pct} %` : "checking the file…";
      }
    };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = { error: xhr.responseText }; }
      if (xhr.status === 200 && body.video_id) {
        bar.value = 100;
        row.classList.add("mm-done");
        status.textContent = `added as video ${body.video_id}`;
        model.send_msg({ video_id: body.video_id, title: body.title, name: file.name });
      } else {
        fail(body.error || `upload failed (HTTP ${xhr.status})`);
      }
    };
    xhr.onerror = () => fail("upload failed: the connection dropped");
    xhr.send(file);
  }

  input.addEventListener("change", () => {
    for (const file of input.files) send(file);
    input.value = "";
  });
  box.addEventListener("dragover", (event) => { event.preventDefault(); box.classList.add("mm-over"); });
  box.addEventListener("dragleave", () => box.classList.remove("mm-over"));
  box.addEventListener("drop", (event) => {
    event.preventDefault();
    box.classList.remove("mm-over");
    for (const file of event.dataTransfer.files) send(file);
  });
  el.append(box, list);
}
