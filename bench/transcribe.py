"""Benchmark: whisper through the app's service vs a bare `whisper.transcribe`, same audio, same run.

Prints median seconds, real-time factor (RTF = seconds / audio seconds), word error rate (whisper's
EnglishTextNormalizer) and the app's overhead ratio; writes JSON into bench/results/.

    python bench/transcribe.py [--sizes base tiny.en] [--repeats 3] [--threads 1]

On a shared 2-core machine the figures are noisy: compare the ratio, which is measured back to back.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import edit_distance, write_results  # noqa: E402
from multimodal.audio import decode_audio  # noqa: E402
from multimodal.transcribe import WhisperTranscriber  # noqa: E402

DATA = ROOT / "bench" / "data"
FIXTURE = ROOT / "tests" / "fixtures" / "audio"
# (name, audio file, reference transcript file or text, repeat the audio n times)
CLIPS = [
    ("ill_disposed_3s", FIXTURE / "ill_disposed.wav", "he was not an ill disposed young man", 1),
    ("librivox_27s", DATA / "librivox_sense_and_sensibility.flac", DATA / "librivox_sense_and_sensibility.txt", 1),
    ("librivox_x3_82s", DATA / "librivox_sense_and_sensibility.flac", DATA / "librivox_sense_and_sensibility.txt", 3),
]


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after whisper's English normalisation."""
    from whisper.normalizers import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    ref, hyp = norm(reference).split(), norm(hypothesis).split()
    return edit_distance(ref, hyp) / max(1, len(ref))


def _clip(path: Path, times: int, workdir: Path):
    """Audio file to feed the app (repeated clips are written as one FLAC) and its samples for bare whisper."""
    import numpy as np

    samples = decode_audio(path).samples
    if times == 1:
        return path, samples
    from tests.fixtures.media import encode_audio

    samples = np.concatenate([samples] * times)
    out = workdir / f"{path.stem}_x{times}.flac"
    out.write_bytes(encode_audio(samples, "flac", "flac"))
    return out, decode_audio(out).samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["base", "tiny.en"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clips", nargs="+", help="Only these clip names.")
    args = parser.parse_args()

    import torch
    import whisper

    torch.set_num_threads(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="bench-whisper-"))
    results = []
    for size in args.sizes:
        service = WhisperTranscriber(workdir, size=size, threads=args.threads)
        model = service.load()  # the same model object for both paths
        for name, path, ref, times in CLIPS:
            if args.clips and name not in args.clips:
                continue
            reference = " ".join([ref.read_text() if isinstance(ref, Path) else ref] * times)
            audio_path, samples = _clip(path, times, workdir)
            seconds = len(samples) / 16_000
            language = "en"  # fixed for both paths, so neither spends time on language detection
            service.transcribe(audio_path, language=language)  # warm-up, not timed
            bare_t, app_t, bare_text, app_text = [], [], "", ""
            for _ in range(args.repeats):  # alternate, so load changes hit both paths alike
                t0 = time.perf_counter()
                bare_text = whisper.transcribe(model, samples, language=language, fp16=False, verbose=None)["text"]
                bare_t.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                app_text = service.transcribe(audio_path, language=language).text
                app_t.append(time.perf_counter() - t0)
            bare_med, app_med = statistics.median(bare_t), statistics.median(app_t)
            row = {
                "model": size, "clip": name, "audio_s": round(seconds, 2), "repeats": args.repeats,
                "bare_median_s": round(bare_med, 3), "app_median_s": round(app_med, 3),
                "bare_rtf": round(bare_med / seconds, 4), "app_rtf": round(app_med / seconds, 4),
                "overhead_ratio": round(app_med / bare_med - 1, 4),
                "bare_wer": round(wer(reference, bare_text), 4), "app_wer": round(wer(reference, app_text), 4),
                "bare_runs_s": [round(t, 3) for t in bare_t], "app_runs_s": [round(t, 3) for t in app_t],
            }
            results.append(row)
            print(f"{size:8} {name:17} {seconds:6.1f}s audio | bare {bare_med:6.2f}s RTF {row['bare_rtf']:.3f} "
                  f"WER {row['bare_wer']:.3f} | app {app_med:6.2f}s RTF {row['app_rtf']:.3f} WER {row['app_wer']:.3f}"
                  f" | overhead {row['overhead_ratio']:+.1%}", flush=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    payload = {"benchmark": "transcribe", "when": stamp, "threads": args.threads, "machine": platform.machine(),
               "cpus": __import__("os").cpu_count(), "results": results}
    write_results(f"transcribe-{stamp}", payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
