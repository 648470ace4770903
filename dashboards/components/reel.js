// The "Make reel" control: crossfade, captions, the button and the server's status line.
// A click sends the current options with it: {make: {crossfade, captions}}.

function field(labelText, input, className) {
  const label = document.createElement("label");
  label.className = className;
  const text = document.createElement("span");
  text.textContent = labelText;
  label.append(text, input);
  return label;
}

export function render({ model, el }) {
  const crossfade = document.createElement("input");
  crossfade.type = "number";
  crossfade.min = "0";
  crossfade.max = "5";
  crossfade.step = "0.1";
  crossfade.value = String(model.crossfade);
  const captions = document.createElement("input");
  captions.type = "checkbox";
  captions.checked = model.captions;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "mm-make-reel";
  button.textContent = "Make reel";
  const status = document.createElement("span");
  status.className = "mm-reel-status";
  const row = document.createElement("div");
  row.className = "mm-reel";
  // Captions' label follows its box, as a checkbox's does.
  const captionsField = field("Captions", captions, "mm-reel-check");
  captionsField.append(captionsField.firstChild);
  row.append(field("Crossfade (s)", crossfade, "mm-reel-field"), captionsField, button, status);

  function draw() {
    button.disabled = model.busy;
    status.innerHTML = model.status;
  }

  button.addEventListener("click", () => {
    const seconds = Number(crossfade.value);
    model.send_msg({
      make: { crossfade: Number.isFinite(seconds) ? seconds : 0, captions: captions.checked },
    });
  });
  model.on("busy", draw);
  model.on("status", draw);
  el.append(row);
  draw();
}
